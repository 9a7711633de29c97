"""Plans for the Ansible modules: read the node, plan the change, apply it."""
