"""The operator console: a web server in its own process (`venue console`).

It must not share the kernel's interpreter (a console thread rendering a big book moved the
kernel's p99 from 43 us to 10.7 ms: spec/console.md), so it runs beside the venue like the
SQL projector. It reads trades, orders and the audit trail from SQL (the venue's database
URL) and live state (books, halts, limits, sessions) from the control channel's read-only
`status` query, conflated to a few a second however many pages are open (live.py). Every
action goes through the same control channel as `venue ctl`, with the logged-in
operator's name, so it is journaled. Operators log in with a name and password checked
against scrypt hashes under [console.operators] in the venue's TOML (auth.py).
"""
