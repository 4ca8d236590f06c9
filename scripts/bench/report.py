#!/usr/bin/env python3
"""Turn the raw figures written by scripts/bench-repo.sh into markdown tables with ratios and bars."""

from __future__ import annotations

import sys

TOOLS = ["tenantvault", "restic", "borg"]
# issue 2: (metric, max ratio tenantvault/restic) per corpus
BARS = {
    "usr": {"first": 0.6, "second": 0.6, "rss": 1.0, "size": 1.05},
    "mail": {"first": 0.6, "second": 0.6, "rss": 1.0, "size": 0.9},
}


def main() -> None:
    timed: dict[str, tuple[float, int]] = {}
    sizes: dict[str, int] = {}
    meta: dict[str, str] = {}
    corpora: dict[str, tuple[int, int]] = {}
    for line in open(sys.argv[1]):
        parts = line.split()
        if not parts:
            continue
        key = parts[0]
        if key.startswith("corpus_"):
            corpora[key[7:]] = (int(parts[1]), int(parts[2]))
        elif key.endswith("-size"):
            sizes[key[:-5]] = int(parts[1])
        elif len(parts) == 5 and key.count("-") >= 2:
            timed[key] = (float(parts[1]), int(parts[2]))
        else:
            meta[key] = " ".join(parts[1:])
    print(f"Run {meta.get('date', '?')} on {meta.get('cpus', '?')} CPUs; load average before "
          f"{meta.get('load_before', '?')}, after {meta.get('load_after', '?')}; {meta.get('versions', '')}\n")
    for corpus, (files, nbytes) in corpora.items():
        mib = nbytes / 2**20
        floor = timed.get(f"{corpus}-floor-tar", (float("nan"), 0))[0]
        print(f"### {corpus}: {files} files, {mib:.0f} MiB; floor (tar | cat) {floor:.2f} s "
              f"= {mib / floor:.0f} MiB/s\n")
        print("| tool | first backup | MiB/s | second (unchanged) | peak RSS first / second | repository size |")
        print("|---|---|---|---|---|---|")
        rows = {}
        for tool in TOOLS:
            first = timed.get(f"{corpus}-{tool}-1")
            second = timed.get(f"{corpus}-{tool}-2")
            size = sizes.get(f"{corpus}-{tool}")
            if not first or not second or size is None:
                continue
            rows[tool] = {"first": first[0], "second": second[0], "rss": max(first[1], second[1]), "size": size}
            print(f"| {tool} | {first[0]:.2f} s | {mib / first[0]:.0f} | {second[0]:.2f} s | "
                  f"{first[1] / 1024:.0f} / {second[1] / 1024:.0f} MiB | {size / 2**20:.1f} MiB |")
        ours = rows.get("tenantvault")
        if not ours:
            continue
        print("\n| ratio tenantvault / peer | first | second | peak RSS | size |")
        print("|---|---|---|---|---|")
        for peer in TOOLS[1:]:
            if peer in rows:
                r = {m: ours[m] / rows[peer][m] for m in ours}
                print(f"| / {peer} | {r['first']:.2f} | {r['second']:.2f} | {r['rss']:.2f} | {r['size']:.2f} |")
        if "restic" in rows:
            verdicts = []
            for m, bar in BARS.get(corpus, {}).items():
                ratio = ours[m] / rows["restic"][m]
                verdicts.append(f"{m} {ratio:.2f} ≤ {bar} {'PASS' if ratio <= bar else 'MISS'}")
            print("\nBars vs restic: " + "; ".join(verdicts))
        print(f"\ntenantvault first backup at {mib / ours['first']:.0f} MiB/s = "
              f"{floor / ours['first'] * 100:.0f}% of the tar floor\n")


if __name__ == "__main__":
    main()
