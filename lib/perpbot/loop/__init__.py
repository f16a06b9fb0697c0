"""The trade loop, one job a module: the schedule (schedule.py), a tick's stages as processes
(stages.py) and the tick itself (tick.py), the control commands (control.py), the state
snapshot for get_state (snapshot.py), the event log (events.py) and the exchange's health
(outage.py)."""
