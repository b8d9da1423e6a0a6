-- SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
--
-- burstgate fleet mode: one identity's leases (docs/fleet.md).
-- Run by every host's controller for every global identity once per sync
-- interval (EVALSHA, pipelined). Redis runs a script atomically, so the
-- invariant below holds between any two calls whatever the hosts do.
--
-- KEYS[1]  burstgate:{IDENTITY}, a hash: one field per host (a JSON record)
--          and "_meta". The {} hash tag keeps an identity in one Cluster slot.
-- ARGV     1 host id            2 demand (ppm of R, may exceed 1e6)
--          3 share in force now (ppm)   4 "sync" or "leave"
--          5 lease ms           6 member timeout ms    7 floor f (ppm)
--          8 N the host last knew (0: none)   9 its limits, "R:B:Rbits:Bbytes"
--          10 its traffic, "admitted_pps admitted_bps dropped_pps dropped_bps"
--          [11 now, ms: the benchmark's virtual clock; hosts never send it]
-- Returns  { lease (ppm), N, hosts heard from, flags }
--          flags: 1 learning (the leases of before are still being learnt)
--                 2 the hosts' limits for this identity differ
--
-- Every share is in millionths (ppm) of the identity's rate R and burst B.
-- The invariant: the shares the engine counts for all hosts sum to at most
-- 1e6. A host is counted at
--   its lease            while the lease runs (e: expiry), or what it said
--                        it enforces, if more (a smaller lease is in force
--                        once the host has written it: it says so next time);
--   max(lease, safe)     once it has gone silent, until m (member timeout):
--                        a silent host may still enforce its last lease
--                        (its XDP program does, controller or not), then
--                        its safe share 1e6/N;
--   1e6/N                for each host of an earlier membership (N_last)
--                        not heard from since this key was made (after an
--                        engine restart, or for a new identity).
-- A request is granted at most what the others leave free, and at most its
-- max-min fair share of the capacity that the live hosts compete for, with a
-- floor f/N each; what demand leaves over goes to the hosts that have some
-- (to all alike while none has: an idle identity is spread evenly). A host above its fair share gets less at its next call,
-- which frees room for the others' next calls: fair within two intervals.

local key = KEYS[1]
local me = ARGV[1]
local demand = tonumber(ARGV[2])
local inforce = tonumber(ARGV[3])
local op = ARGV[4]
local lease_ms = tonumber(ARGV[5])
local member_ms = tonumber(ARGV[6])
local floor_ppm = tonumber(ARGV[7])
local n_last = tonumber(ARGV[8])
local limits = ARGV[9]
local traffic = ARGV[10]
local WHOLE = 1000000

-- Redis's clock is the fleet's one clock (the hosts' may differ). ARGV[11]
-- replaces it only for bg-fleet-bench, which simulates on a virtual one.
local now
if ARGV[11] then
	now = tonumber(ARGV[11])
else
	local t = redis.call('TIME')
	now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local all = redis.call('HGETALL', key)
local meta = { epoch = now, nh = 0, nhe = 0 }
local mine = nil
local others = {}
for i = 1, #all, 2 do
	local f, v = all[i], all[i + 1]
	if f == '_meta' then
		meta = cjson.decode(v)
	elseif f == me then
		mine = cjson.decode(v)
	else
		others[f] = cjson.decode(v)
	end
end

-- Who is counted, and at what
local held = 0 -- counted for the other hosts
local fixed = 0 -- of which silent: not competing for capacity
local live = {} -- demands of the hosts whose lease runs (this one added below)
local known = 1
local disagree = false
for h, r in pairs(others) do
	if now < r.e then
		-- what it enforced at its last call, if more: a smaller lease is
		-- only sure to be in force once the host says so (at its next call)
		held = held + math.max(r.l, r.f)
		live[#live + 1] = r.d
		known = known + 1
		if r.lim ~= limits then disagree = true end
	elseif now < r.m then
		local c = math.max(r.l, r.s)
		held = held + c
		fixed = fixed + c
		known = known + 1
	else
		redis.call('HDEL', key, h) -- forgotten: its share is free again
	end
end

-- Hosts of an earlier membership not heard from yet (first call of a host
-- on this key: it brings what it knew)
if mine == nil and n_last > 0 and (meta.nhe <= now or n_last > meta.nh) then
	meta.nh = n_last
	meta.nhe = now + member_ms
end
local n = known
if meta.nhe > now and meta.nh > n then n = meta.nh end
local phantom = math.floor(WHOLE / n) * (n - known)
held = held + phantom
fixed = fixed + phantom

local grant = 0
local safe = math.floor(WHOLE / n)
if op == 'sync' then
	-- Max-min fair over the live hosts' demands, each at least the floor;
	-- what demand leaves over goes to the hosts that have some, in equal parts
	live[#live + 1] = demand
	local cap = math.max(WHOLE - fixed, 0)
	local fl = math.floor(floor_ppm / n)
	if fl * #live > cap then fl = cap / #live end
	local need, active = 0, 0
	for _, d in ipairs(live) do
		need = need + math.max(d, fl)
		if d > 0 then active = active + 1 end
	end
	local target
	if need <= cap then
		-- the rest to the hosts with demand; to all alike when none has any
		target = math.max(demand, fl)
		if active == 0 then
			target = target + (cap - need) / #live
		elseif demand > 0 then
			target = target + (cap - need) / active
		end
	else
		table.sort(live)
		local left, k, level = cap, #live, nil
		for _, d in ipairs(live) do
			local want = math.max(d, fl)
			if want * k <= left then
				left = left - want
				k = k - 1
			else
				level = left / k
				break
			end
		end
		target = math.max(fl, math.min(demand, level or demand))
	end
	grant = math.floor(math.min(target, WHOLE - held))
	if grant < 0 then grant = 0 end
	-- Learning: this key is new (an engine restart, a new identity), so the
	-- leases of before are unknown. Until they have all run out, a host gets
	-- no more than it enforces already: the old leases summed to a whole.
	if now < meta.epoch + 2 * lease_ms then grant = math.min(grant, inforce) end
end

local rec = { l = grant, e = now + lease_ms, m = now + member_ms, s = safe, d = demand,
	f = inforce, lim = limits, st = traffic, t = now }
if op == 'leave' then
	-- the host keeps enforcing its share in force (its safe share): counted
	-- at that until the member timeout, the rest is free at once
	rec.l = 0
	rec.e = now
	rec.s = inforce
end
redis.call('HSET', key, me, cjson.encode(rec), '_meta', cjson.encode(meta))
redis.call('PEXPIRE', key, 2 * member_ms)
local flags = 0
if now < meta.epoch + 2 * lease_ms then flags = flags + 1 end
if disagree then flags = flags + 2 end
return { grant, n, known, flags }
