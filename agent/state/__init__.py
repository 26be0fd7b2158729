"""The state layer: every SQL statement of the agent lives in this package.

One SQLite file (``{state_dir}/state.db``). Each capability owns its tables and migrates them
under its own component name, so features do not share one version counter:

- :mod:`agent.state.store` - the connection, migrations, acks, finding lifecycles, counter samples
  (:class:`History` for rules), small key/value state (cursors);
- :mod:`agent.state.events` - the event history (kernel log, pstore, previous boot, IPMI SEL) and
  the boots the agent has seen, and the :class:`~agent.model.events.EventWindow` rules read;
- :mod:`agent.state.disks` - SMART lifetime-counter baselines and history, disk slots, known
  devices and self-test dates;
- :mod:`agent.state.baselines` - versions of the host baseline;
- :mod:`agent.state.enrich` - the enrichment step between collectors and rules: stores what the
  collectors read and attaches baselines to the readings.

Collectors never import this package's SQL; they get readings out, the enrichment step puts
history in.
"""
