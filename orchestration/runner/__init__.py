"""The runner: executes the tasks of django-q2's ORM queue, many runs per process.

    manage.py runcluster
      └─ cluster (cluster.py): preloads the code and the classifier, forks Q_WORKERS worker
         processes at a lower CPU priority, restarts one that dies (with backoff), stops them on
         SIGTERM/SIGINT; its children die with it (PR_SET_PDEATHSIG)
           └─ worker process (worker.py), threads:
                dispatcher  takes as many tasks as it has free slots (RUN_CONCURRENCY), in one
                            statement, when woken by NOTIFY autoflow_queue or every RUN_POLL_SECONDS
                run slots   one task each: `orchestration.tasks.run_execute` for a run (which waits
                            on the model most of the time), or a scheduled task
                heartbeat   every RUN_LEASE_SECONDS / 6: renews its runs' leases and its tasks'
                            locks in one round trip (a run's task only with its lease),
                            and reports the process in Redis
                listener    LISTEN autoflow_queue on a connection of its own
                scheduler   django-q2's scheduler every 30 s (its lock keeps clusters from doubling)
                webhooks    the outbound webhook sender every OUTBOUND_WEBHOOK_POLL_SECONDS: claims
                            due deliveries with SKIP LOCKED (inquiries/services/webhooks.py)

A run's lease and its task's lock are renewed only while the run is within RUN_TIMEOUT_SECONDS of
its attempt's start. A worker that dies, hangs or loses the database stops renewing; its tasks
are handed out again, and its runs claimed again (resumed from their checkpoint and steps),
within RUN_LEASE_SECONDS of its last heartbeat, on whichever machine polls first.
"""
