"""The EKS version's support phase, from EKS itself or the bundled calendar."""

from __future__ import annotations

from datetime import date, datetime

from core.eks_versions import (
    HOURS_PER_MONTH,
    TABLE_NAME,
    EksTable,
    VersionDates,
)
from core.problems import set_command
from toe.preflight.verdicts import FAIL, PASS, WARN, Check

# Standard support ending this close to today is worth a warning: the workshop may run later.
SOON_DAYS = 30


def _describe_cluster_version(eks_client, version: str) -> tuple[VersionDates | None, str]:
    """The dates EKS DescribeClusterVersions gives, or None when the call is not answered."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        found = eks_client.describe_cluster_versions(clusterVersions=[version])
    except (ClientError, BotoCoreError):
        return None, ""
    for item in found.get("clusterVersions", []):
        std, ext = item.get("endOfStandardSupportDate"), item.get("endOfExtendedSupportDate")
        if item.get("clusterVersion") == version and std and ext:
            return VersionDates(version, _day(std), _day(ext), _day(item.get("releaseDate"))), (
                "EKS DescribeClusterVersions"
            )
    return None, ""


def _day(value) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def eks_support(
    version: str,
    today: date,
    table: EksTable,
    answer: VersionDates | None = None,
    source: str = "",
) -> Check:
    """Standard support passes; extended support warns with its price; past it fails."""
    title = "EKS version support"
    dates = answer or table.versions.get(version)
    source = source if answer else f"{TABLE_NAME} ({table.source})"
    if dates is None:
        return Check(
            "eks-version",
            title,
            WARN,
            f"{version} is not in the version calendar table; check {table.source}",
            (f"known: {', '.join(table.versions)}",),
            {"version": version, "source": source},
        )
    extra = table.extended_extra_per_hour
    data = {
        "version": version,
        "endOfStandardSupport": dates.end_of_standard.isoformat(),
        "endOfExtendedSupport": dates.end_of_extended.isoformat(),
        "today": today.isoformat(),
        "standardPricePerHour": table.standard_price,
        "extendedPricePerHour": table.extended_price,
        "source": source,
    }
    evidence = (
        f"standard support until {dates.end_of_standard}, extended until "
        f"{dates.end_of_extended} (source: {source})",
        f"control plane ${table.standard_price:.2f}/h standard, ${table.extended_price:.2f}/h "
        "extended, per cluster",
    )
    phase = dates.phase(today)
    if phase == "ended":
        data["phase"] = "unsupported"
        return Check(
            "eks-version",
            title,
            FAIL,
            f"{version} left extended support on {dates.end_of_extended}: EKS creates no "
            f"such cluster; {set_command('kubernetesVersion', table.newest(today))}",
            evidence,
            data,
        )
    if phase == "extended":
        data["phase"] = "extended"
        month = table.extended_extra_per_month
        return Check(
            "eks-version",
            title,
            WARN,
            f"{version} is in extended support since {dates.end_of_standard} (until "
            f"{dates.end_of_extended}): control plane ${table.extended_price:.2f}/h instead of "
            f"${table.standard_price:.2f}/h, +${extra:.2f}/h (≈ ${month:,.0f} per "
            f"{HOURS_PER_MONTH}-hour month) per attendee cluster",
            evidence,
            data,
        )
    data["phase"] = "standard"
    left = (dates.end_of_standard - today).days
    if left <= SOON_DAYS:
        return Check(
            "eks-version",
            title,
            WARN,
            f"{version} leaves standard support in {left} days ({dates.end_of_standard}); "
            f"then ${table.extended_price:.2f}/h instead of ${table.standard_price:.2f}/h",
            evidence,
            data,
        )
    return Check(
        "eks-version",
        title,
        PASS,
        f"{version} in standard support until {dates.end_of_standard} ({left} days)",
        evidence,
        data,
    )
