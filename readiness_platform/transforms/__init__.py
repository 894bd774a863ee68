"""DataFrame -> DataFrame functions that call the domain: no sessions, no I/O."""
