"""Sites: what a site is, where it lives, who owns it, and what runs for it on this node."""
