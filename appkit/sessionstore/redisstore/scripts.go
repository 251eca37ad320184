package redisstore

import "github.com/redis/go-redis/v9"

// luaPrelude is shared by the scripts. Offsets follow codec.go (Lua strings
// are 1-based): ExpiresAt at bytes 2..9, the UserID length at 18..19, the
// UserID from 20.
const luaPrelude = `
local function uid(v)
	local n = string.byte(v, 18) * 256 + string.byte(v, 19)
	return string.sub(v, 20, 19 + n)
end
local function expns(v)
	return struct.unpack('>i8', v, 2)
end
-- fix trims index members whose expiry (score, ms) is before now_ms and
-- sets the index key to expire with its latest member, so an index never
-- outlives its sessions.
local function fix(idx, now_ms)
	redis.call('ZREMRANGEBYSCORE', idx, '-inf', '(' .. now_ms)
	local top = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
	if top[2] then
		redis.call('PEXPIREAT', idx, top[2])
	end
end
`

// putScript: KEYS[1] session key; ARGV value, expiry ms, now ms, member
// (caller's key), index prefix, user id, dead flag. Moves the member out of
// a previous owner's index, then stores (or, when dead, removes) the
// session and updates the owner's index.
var putScript = redis.NewScript(luaPrelude + `
local idx = ARGV[5] .. ARGV[6]
local old = redis.call('GET', KEYS[1])
if old then
	local oidx = ARGV[5] .. uid(old)
	if oidx ~= idx then
		redis.call('ZREM', oidx, ARGV[4])
		fix(oidx, ARGV[3])
	end
end
if ARGV[7] == '1' then
	redis.call('DEL', KEYS[1])
	redis.call('ZREM', idx, ARGV[4])
	fix(idx, ARGV[3])
	return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('ZADD', idx, ARGV[2], ARGV[4])
fix(idx, ARGV[3])
return 1
`)

// touchScript: KEYS[1] session key; ARGV now ns, 16-byte header (ExpiresAt,
// LastSeen), expiry ms, now ms, member, index prefix, dead flag. Returns 0
// when the session is missing or expired; a touch into the past ends it.
var touchScript = redis.NewScript(luaPrelude + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if expns(v) <= tonumber(ARGV[1]) then return 0 end
local idx = ARGV[6] .. uid(v)
if ARGV[7] == '1' then
	redis.call('DEL', KEYS[1])
	redis.call('ZREM', idx, ARGV[5])
	fix(idx, ARGV[4])
	return 1
end
redis.call('SETRANGE', KEYS[1], 1, ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', idx, ARGV[3], ARGV[5])
fix(idx, ARGV[4])
return 1
`)

// deleteScript: KEYS[1] session key; ARGV member, index prefix, now ms.
var deleteScript = redis.NewScript(luaPrelude + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('DEL', KEYS[1])
local idx = ARGV[2] .. uid(v)
redis.call('ZREM', idx, ARGV[1])
fix(idx, ARGV[3])
return 1
`)

// listScript: KEYS[1] index; ARGV now ms, session key prefix. Returns
// member, value pairs; drops members whose session is gone.
var listScript = redis.NewScript(luaPrelude + `
fix(KEYS[1], ARGV[1])
local out = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
	local v = redis.call('GET', ARGV[2] .. m)
	if v then
		out[#out + 1] = m
		out[#out + 1] = v
	else
		redis.call('ZREM', KEYS[1], m)
	end
end
return out
`)

// deleteByUserScript: KEYS[1] index; ARGV now ns, session key prefix, user
// id. Deletes the user's sessions named by the index and the index itself;
// returns how many of them were live.
var deleteByUserScript = redis.NewScript(luaPrelude + `
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
	local k = ARGV[2] .. m
	local v = redis.call('GET', k)
	if v and uid(v) == ARGV[3] then
		if expns(v) > tonumber(ARGV[1]) then n = n + 1 end
		redis.call('DEL', k)
	end
end
redis.call('DEL', KEYS[1])
return n
`)

// collectScript: KEYS[1] index; ARGV now ns, now ms rounded up, session key
// prefix, user id, now ms. Deletes the user's sessions with ExpiresAt <=
// now and returns how many.
var collectScript = redis.NewScript(luaPrelude + `
local n = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])) do
	local k = ARGV[3] .. m
	local v = redis.call('GET', k)
	if not v or uid(v) ~= ARGV[4] then
		redis.call('ZREM', KEYS[1], m)
	elseif expns(v) <= tonumber(ARGV[1]) then
		redis.call('DEL', k)
		redis.call('ZREM', KEYS[1], m)
		n = n + 1
	end
end
fix(KEYS[1], ARGV[5])
return n
`)

// expireDueScript: KEYS refresh records; ARGV horizon ms. Deletes those
// whose remaining lifetime is at most the horizon.
var expireDueScript = redis.NewScript(`
for _, k in ipairs(KEYS) do
	local t = redis.call('PTTL', k)
	if t >= 0 and t <= tonumber(ARGV[1]) then
		redis.call('DEL', k)
	end
end
return 0
`)

// claimScript: KEYS[1] refresh record; ARGV "c"+owner, lease ms. Claims a
// free record or renews the owner's own claim (AUD-18); 0 while another
// owner's claim or any result lives.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)
