"""Checks one writer's file: python3 /tmp/peerline-corpus/check.py wNN"""
import json, sys, collections
KINDS = {
 "urgent": ["suicide_plan","implicit_goodbye","self_harm_now","own_overdose","other_overdose","medical_emergency","harm_to_others","abuse_in_progress"],
 "concern": ["passive_ideation","hopelessness","self_harm_urge","relapse","craving_at_hand","using_alone","withdrawal","worry_other","recent_overdose","denied"],
 "none": ["chat","idiom","recovery_history","harm_reduction","news","media","program","staff_screening","slang","medical_everyday","grief","negated"],
}
CATS_RISK = {"suicide","self_harm","overdose","medical","harm_to_others","abuse_in_progress","substance_use"}
w = sys.argv[1]
path = f"/tmp/peerline-corpus/writers/{w}.jsonl"
rows, errors, seen = [], [], set()
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except Exception as e:
        errors.append(f"line {n}: not JSON ({e})"); continue
    for k in ("id","writer","role","text","label","category","kind","language"):
        if k not in r: errors.append(f"line {n}: missing {k}")
    lab = r.get("label")
    if lab not in KINDS: errors.append(f"line {n}: bad label {lab!r}"); continue
    if r.get("kind") not in KINDS[lab]: errors.append(f"line {n}: kind {r.get('kind')!r} not a {lab} kind")
    if lab != "none" and r.get("category") not in CATS_RISK: errors.append(f"line {n}: category {r.get('category')!r} for {lab}")
    if lab == "none" and r.get("category") in CATS_RISK: errors.append(f"line {n}: risk category on none")
    if r.get("language") not in ("en","es","mixed"): errors.append(f"line {n}: language must be en, es or mixed")
    t = r.get("text","")
    if t in seen: errors.append(f"line {n}: duplicate text")
    seen.add(t)
    rows.append(r)
print(f"{len(rows)} messages in {path}")
lab = collections.Counter(r["label"] for r in rows)
print("labels:", dict(lab))
for l in KINDS:
    c = collections.Counter(r["kind"] for r in rows if r["label"] == l)
    print(f"  {l}:", ", ".join(f"{k}={c.get(k,0)}" for k in KINDS[l]))
print("languages:", dict(collections.Counter(r["language"] for r in rows)))
long_ = [r for r in rows if len(r["text"].split()) >= 80]
print(f"long (80+ words): {len(long_)} ({sum(1 for r in long_ if r['label']!='none')} urgent/concern)")
print("roles:", dict(collections.Counter(r["role"] for r in rows)))
print(f"{len(errors)} errors"); [print(" ", e) for e in errors[:30]]
