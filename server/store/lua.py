"""The Lua scripts the Redis store runs: each is one atomic round trip.

Loaded once by SHA at start (server/store/redis.py); KEYS and ARGV of each are listed above it.
"""

from __future__ import annotations

# The login wait after n failures with `free` failures allowed: the same rule as
# server.core.login_limits.backoff_seconds, spelled once for both login scripts. Needs the locals
# first, cap, hard and window in scope.
_BACKOFF = """
local function backoff(n, free)
  if n >= hard then return window end
  if n < free then return 0 end
  return math.min(cap, first * 2 ^ (n - free))
end
"""

_ID_CMP = """
local function cmp(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  if am ~= bm then if am < bm then return -1 else return 1 end end
  if as ~= bs then if as < bs then return -1 else return 1 end end
  return 0
end
local function last_generated(key)
  if redis.call('EXISTS', key) == 0 then return '0-0' end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
"""

# KEYS: stream, dedup hash, author index, author's pace. ARGV: id, nonce, key id, blob,
# retention ms, dedup ms, channel, room, now ms, interval ms, tolerance ms (interval 0: no
# rate). Returns {1, id} stored, {0, id} duplicate, {2, last} id too low, {3, ms} over the
# rate: wait ms. The pace is server.core.ratelimit.gcra, in the same round trip as the append.
APPEND_LUA = (
    _ID_CMP
    + """
local prior = redis.call('HGET', KEYS[2], ARGV[2])
if prior then return {0, prior} end
local now, interval, tolerance = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local pace = 0
if interval > 0 then
  local start = math.max(tonumber(redis.call('GET', KEYS[4]) or '0'), now)
  if start - now > tolerance then return {3, tostring(start - now - tolerance)} end
  pace = start + interval
end
local last = last_generated(KEYS[1])
if cmp(ARGV[1], last) <= 0 then return {2, last} end
if interval > 0 then
  redis.call('SET', KEYS[4], pace, 'PX', pace - now)
end
redis.call('XADD', KEYS[1], ARGV[1], 'k', ARGV[3], 'd', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('RPUSH', KEYS[3], ARGV[8] .. ' ' .. ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('PUBLISH', ARGV[7], 'm' .. ARGV[1] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
return {1, ARGV[1]}
"""
)

# KEYS: stream, floor. ARGV: since ('' for none), latest count, page size.
# Returns {mode, entries}: 0 a forward page after since; 1 reset (since is older than what
# is kept, or newer than anything stored: the store lost data) with the latest entries in
# reverse; 2 the latest entries in reverse.
HISTORY_LUA = (
    _ID_CMP
    + """
local since = ARGV[1]
if since ~= '' then
  local floor = redis.call('GET', KEYS[2])
  local stale = (floor and cmp(since, floor) < 0) or cmp(since, last_generated(KEYS[1])) > 0
  if not stale then
    return {0, redis.call('XRANGE', KEYS[1], '(' .. since, '+', 'COUNT', tonumber(ARGV[3]) + 1)}
  end
  return {1, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])}
end
return {2, redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2])}
"""
)

# KEYS: presence zset. ARGV: member, '1' here / '0' gone, now ms, expiry ms, channel, room,
# key ttl ms, the connection that already knows (skipped by the signal). Counts distinct
# people (the part of a member before '|'); publishes a presence signal when it changed.
PRESENCE_LUA = """
local function count()
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
  local seen, n = {}, 0
  for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local pid = string.match(m, '^([^|]*)')
    if not seen[pid] then seen[pid] = true; n = n + 1 end
  end
  return n
end
local before = count()
if ARGV[2] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[7])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
local after = count()
if after ~= before then
  redis.call('PUBLISH', ARGV[5],
    's' .. ARGV[8] .. '\\n{"type":"presence","room":"' .. ARGV[6] .. '","count":' .. after .. '}')
end
return after
"""

# KEYS: the address's pace, the (username, address) failures, the username's failures.
# ARGV: now ms, interval ms, tolerance ms, pair free, name free, first ms, cap ms, hard,
# window ms. Returns {0, 0} go ahead (counted as a failure of the pair and the name), {1, ms}
# the address is over its pace, {2, ms} failures make it wait. Mirrors
# server/core/login_limits.decide; the contract tests compare the two.
LOGIN_LUA = (
    """
local now = tonumber(ARGV[1])
local interval, tolerance = tonumber(ARGV[2]), tonumber(ARGV[3])
local start = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
if start - now > tolerance then return {1, start - now - tolerance} end
redis.call('SET', KEYS[1], start + interval, 'PX', start + interval - now)
local pn = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local pu = tonumber(redis.call('HGET', KEYS[2], 'u') or '0')
local nn = tonumber(redis.call('HGET', KEYS[3], 'n') or '0')
local nu = tonumber(redis.call('HGET', KEYS[3], 'u') or '0')
local pfree, nfree = tonumber(ARGV[4]), tonumber(ARGV[5])
local wait = math.max(0, pu - now)
if pn > 0 and nn >= nfree then wait = math.max(wait, nu - now) end
if wait > 0 then return {2, wait} end
local first, cap = tonumber(ARGV[6]), tonumber(ARGV[7])
local hard, window = tonumber(ARGV[8]), tonumber(ARGV[9])
"""
    + _BACKOFF
    + """pn, nn = pn + 1, nn + 1
redis.call('HSET', KEYS[2], 'n', pn, 'u', now + backoff(pn, pfree))
redis.call('PEXPIRE', KEYS[2], window)
redis.call('HSET', KEYS[3], 'n', nn, 'u', now + backoff(nn, nfree))
redis.call('PEXPIRE', KEYS[3], window)
return {0, 0}
"""
)

# KEYS: the pair's failures, the username's. A good login: the pair starts afresh and the
# name gives back the failure counted in advance (server/login_limits.succeeded).
LOGIN_SUCCEEDED_LUA = """
redis.call('DEL', KEYS[1])
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
if n > 0 then redis.call('HSET', KEYS[2], 'n', n - 1) end
return 0
"""

# KEYS: the pair's failures, the username's. ARGV: now ms, pair free, name free, first ms,
# cap ms, hard, window ms. An attempt never checked (the hashing queue was full): one
# failure fewer for each, the wait recomputed from now (server/login_limits.not_tried).
LOGIN_NOT_TRIED_LUA = (
    """
local now = tonumber(ARGV[1])
local first, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local hard, window = tonumber(ARGV[6]), tonumber(ARGV[7])
"""
    + _BACKOFF
    + """for i = 1, 2 do
  local n = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
  if n > 1 then
    redis.call('HSET', KEYS[i], 'n', n - 1, 'u', now + backoff(n - 1, tonumber(ARGV[i + 1])))
  elseif n == 1 then
    redis.call('HSET', KEYS[i], 'n', 0, 'u', 0)
  end
end
return 0
"""
)

SCRIPTS = {
    "append": APPEND_LUA,
    "history": HISTORY_LUA,
    "presence": PRESENCE_LUA,
    "login": LOGIN_LUA,
    "login_ok": LOGIN_SUCCEEDED_LUA,
    "login_not_tried": LOGIN_NOT_TRIED_LUA,
}
