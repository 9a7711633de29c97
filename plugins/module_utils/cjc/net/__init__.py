"""Network: frames, the site-to-site protocol, how user commands reach a site, the NQS port hand-over."""
