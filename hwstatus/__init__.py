"""Off-host customer status service: incidents fed by Alertmanager webhooks, the incident API
and the operator's CLI; a static status page (HTML, JSON, Atom), subscriber notices (SMTP relay,
webhook) and the availability report. Runs on a different host than the servers it reports on.
"""
