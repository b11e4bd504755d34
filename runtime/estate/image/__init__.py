"""Container images built from this repo: the harness image the stacks' CronJobs run and the
PostgreSQL image with pgBackRest, built with the Docker SDK on a machine that can pull nothing."""
