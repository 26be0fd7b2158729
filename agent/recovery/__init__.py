"""Recovery runbooks: TOML files run as verified, resumable, evidenced checklists.

``runbook`` loads and lints the files, ``actions`` is the closed set of things a step may do,
``executor`` plans (dry run), executes and resumes, ``record`` keeps the run file, evidence, the
audit log and the lock, ``report`` renders checklists and run reports, ``notify`` talks to the
customer status service.
"""
