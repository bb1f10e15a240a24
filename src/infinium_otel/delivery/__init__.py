"""Getting encoded runs to Infinium: the background worker with the one queue,
its retry schedule, and the durable spool."""
