"""Rules that once had several copies which disagreed, checked at their boundaries in every tool
that applies them: the EKS support phase on the day standard support ends, and image pinning."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core import images
from core.eks_versions import load_eks_table
from policies import rules
from toe import cost, preflight

TABLE = load_eks_table()
LAST_STANDARD = date(2026, 7, 28)
FIRST_EXTENDED = date(2026, 7, 29)  # "1.33 left standard support on 2026-07-29" (FACTS.md)
FIRST_ENDED = date(2027, 7, 29)


@pytest.mark.parametrize(
    ("day", "phase"),
    [
        (LAST_STANDARD, "standard"),
        (FIRST_EXTENDED, "extended"),
        (FIRST_ENDED - timedelta(days=1), "extended"),
        (FIRST_ENDED, "ended"),
    ],
)
def test_every_tool_puts_the_boundary_days_in_the_same_phase(day, phase):
    assert TABLE.phase("1.33", day) == phase
    check = preflight.eks_support("1.33", day, TABLE)
    assert check.data["phase"] == {"ended": "unsupported"}.get(phase, phase)
    _, label = cost.PriceBook("ap-northeast-2", today=day).control_plane_hour("1.33", day)
    assert label.startswith("standard" if phase == "standard" else "extended")


def test_the_newest_version_is_one_answer_for_every_fix():
    newest = TABLE.newest(date(2026, 12, 2))
    assert TABLE.phase(newest, date(2026, 12, 2)) == "standard"
    check = preflight.eks_support("1.31", date(2026, 12, 2), TABLE)
    assert f"kubernetesVersion {newest}" in check.summary


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04", True),
        ("repo@sha256:" + "a" * 64, True),
        ("repo:", False),
        ("repo", False),
        ("repo:latest", False),
        ("registry:5000/repo", False),
        ("registry:5000/repo:1.0", True),
        ("repo@sha256:short", False),
    ],
)
def test_config_and_the_policy_pack_pin_images_alike(image, pinned):
    assert images.image_pinned(image) is pinned
    assert rules.image_pinned is images.image_pinned  # one rule, not a copy


@pytest.mark.parametrize(
    ("arn", "identity", "iam_arn"),
    [
        (
            "arn:aws:sts::111122223333:assumed-role/Admin/jane",
            ("111122223333", "role", "Admin"),
            "arn:aws:iam::111122223333:role/Admin",
        ),
        (
            "arn:aws:iam::111122223333:role/ops/Admin",
            ("111122223333", "role", "Admin"),
            "arn:aws:iam::111122223333:role/ops/Admin",
        ),
        (
            "arn:aws:iam::111122223333:user/jane",
            ("111122223333", "user", "jane"),
            "arn:aws:iam::111122223333:user/jane",
        ),
        ("arn:aws:sts::111122223333:federated-user/bob", None, None),
        ("arn:aws:iam::111122223333:root", None, None),
    ],
)
def test_access_entries_and_the_iam_check_read_a_principal_alike(arn, identity, iam_arn):
    from components.cluster import principal_of

    assert principal_of(arn) == identity
    assert preflight.principal_arn(arn) == iam_arn
