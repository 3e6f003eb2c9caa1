"""Per-concern monitoring: each module declares the alarms of one concern through ``infra.alarm_factory``.

checks (per-check alarms, platform-unhealthy), canary_health (errors, heartbeat, leaked sessions, self-test),
functions (Lambda errors, throttles, invocations, duration) and queues (the schedule DLQ). ``infra.alarms``
composes them and adds canary-broken; ``infra.dashboard`` draws them.
"""
