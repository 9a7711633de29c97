"""Jobs: the site database and the life of a job (submit, dispatch, end, restart rules)."""
