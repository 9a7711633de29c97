"""The OCF resource agent ``ocf:cjc:cjcsite``: the cluster's view of a site."""
