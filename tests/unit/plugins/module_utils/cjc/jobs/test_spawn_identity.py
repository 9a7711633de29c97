"""When a job needs no credential change (and so may be started with vfork): the primary group
is a member whatever the supplementary list says."""

from ansible_collections.cjc.cluster.plugins.module_utils.cjc.jobs.spawn import _identity


def test_root_without_supplementary_groups_is_root_with_group_0():
    assert _identity(0, 0, []) == _identity(0, 0, [0])


def test_another_user_group_or_membership_is_another_identity():
    assert _identity(0, 0, []) != _identity(23001, 23001, [23001])
    assert _identity(0, 0, []) != _identity(0, 0, [0, 5])
    assert _identity(0, 0, [0]) != _identity(0, 5, [0])
