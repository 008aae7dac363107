"""What the routes do, without HTTP: one module per thing users name (plans, tokens, changes,
versions, calendars, feeds, webhooks, the audit log). Each request's unit of work is one function
here: it reads, takes the plan's write lock before it writes, and commits before letting it go."""
