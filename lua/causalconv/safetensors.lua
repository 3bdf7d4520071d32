-- Checkpoint files in Hugging Face's safetensors format:
--   cc.save_safetensors(tensors, path [, metadata])
--   tensors, metadata = cc.load_safetensors(path [, opts])
--
-- The format: an 8-byte little-endian u64 N, then N bytes of JSON header
--   {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
-- then the data section: every tensor's raw little-endian bytes, C order, at data_offsets
-- (relative to the start of the data section). The writer pads the header with spaces so the
-- data starts 8-byte aligned, as Hugging Face's writer does, and packs the tensors back to back
-- in the order given (a name -> tensor table: sorted by name). dtypes: F32 F64 F16 BF16 I32 I64.
--
-- save writes path .. ".tmp-<pid>-<n>" and renames it over path only when every write, the
-- flush and the close succeeded, so path is either untouched or the complete new file.
--
-- load validates the whole header before it allocates anything, with the rules of Hugging
-- Face's loader: the header is UTF-8 JSON starting with "{", each entry is exactly {dtype,
-- shape, data_offsets}, sizes agree with shapes, and the tensors tile the data section exactly
-- (no overlap, no hole, no trailing bytes). Every error names the file. Nothing is returned
-- on failure.
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local tensor = require "causalconv.tensor"

local ffi, C, raise = F.ffi, F.C, F.raise
local fmt, byte, char = string.format, string.byte, string.char
local concat, sort = table.concat, table.sort
local floor = math.floor
local show, is_tensor = args.show, args.is_tensor

local M = {}

-- lua-cjson (Debian lua-cjson) parses headers. It is required at the first load, not here, so
-- `require "causalconv"` works without it (and with any package.cpath); saving never needs it.
local json   -- a private cjson instance: our settings do not leak to other users of cjson
local JSON_NULL = {}   -- replaced by cjson.null once loaded
local function get_json()
    if json then return json end
    local ok, lib = pcall(require, "cjson")
    if not ok then
        raise("load_safetensors: needs lua-cjson to parse the header (Debian: apt-get install lua-cjson, or make deps): "
              .. tostring(lib):match("^[^\n]*"))
    end
    json = lib.new()
    json.decode_invalid_numbers(false)   -- no NaN, Infinity, hex
    json.decode_max_depth(16)            -- a header nests 3 deep; deeper is garbage
    JSON_NULL = json.null
    return json
end

if not pcall(function() return ffi.C.cc_st_getpid end) then
    ffi.cdef [[int cc_st_getpid(void) __asm__("getpid");]]   -- a private name: never clashes with another cdef
end

local MAX_HEADER = 100000000          -- Hugging Face's limit on the header size (bytes)
local CHUNK = 16 * 2 ^ 20             -- bytes per read/write of tensor data
local MAX_INT = 2 ^ 53                -- integers in the header must stay exact in a double

-- project dtype code <-> safetensors dtype name
local ST_NAME = {
    [C.CC_F32] = "F32", [C.CC_F64] = "F64", [C.CC_F16] = "F16", [C.CC_BF16] = "BF16",
    [C.CC_I32] = "I32", [C.CC_I64] = "I64",
}
local ST_CODE = {}
for code, name in pairs(ST_NAME) do ST_CODE[name] = code end
-- Hugging Face dtypes causalconv has no tensors for: validated and skipped with opts.names
local OTHER_ITEMSIZE = { BOOL = 1, U8 = 1, I8 = 1, F8_E5M2 = 1, F8_E4M3 = 1, I16 = 2, U16 = 2, U32 = 4, U64 = 8 }
local SUPPORTED = "F32, F64, F16, BF16, I32, I64"

------------------------------------------------------------------------------------------------
-- helpers
--
-- No pairs() loop here has another pairs() loop inside it (directly or in a call): Debian's
-- LuaJIT 2.1.0-beta3 (git 2022-03-20) has LuaJIT bug #827, where a compiled inner pairs() loop
-- can end the outer one early. The loops over tensors go over sorted name lists with ipairs.

-- Valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF)? -> true or the byte
-- position of the first bad sequence.
local function utf8_check(s)
    if not s:find("[\128-\255]") then return true end
    local i, n = 1, #s
    while i <= n do
        local c = byte(s, i)
        local need, lo, hi = 0, 0x80, 0xBF
        if c < 0x80 then need = 0
        elseif c >= 0xC2 and c <= 0xDF then need = 1
        elseif c >= 0xE0 and c <= 0xEF then
            need = 2
            if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
        elseif c >= 0xF0 and c <= 0xF4 then
            need = 3
            if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
        else
            return i
        end
        for k = 1, need do
            local d = byte(s, i + k)
            if not d or d < lo or d > hi then return i end
            lo, hi = 0x80, 0xBF
        end
        i = i + need + 1
    end
    return true
end

-- JSON string literal, escaped as serde_json (Hugging Face's writer) escapes it.
local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
              ["\r"] = "\\r", ["\t"] = "\\t" }
local function json_string(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        if ESC[c] then return ESC[c] end
        local b = byte(c)
        if b < 0x20 then return fmt("\\u%04x", b) end
        return c   -- DEL (0x7f) is a %c but JSON does not escape it
    end) .. '"'
end

local function u64_le(n)
    local b = {}
    for i = 1, 8 do
        b[i] = n % 256
        n = floor(n / 256)
    end
    return char(unpack(b))
end

local function int_str(v) return fmt("%.0f", v) end

-- A decoded JSON value, described for a message.
local function jshow(v)
    local tv = type(v)
    if v == JSON_NULL then return "null" end
    if tv == "string" then return fmt("the string %q", #v > 40 and v:sub(1, 40) .. "..." or v) end
    if tv == "number" then return "the number " .. show(v) end
    if tv == "boolean" then return tostring(v) end
    if tv == "table" then
        if next(v) == nil then return "an empty object or array" end
        return type(next(v)) == "number" and "an array" or "an object"
    end
    return "a " .. tv
end

-- A JSON array decoded by cjson: a table whose keys are exactly 1..n -> n, else nil.
local function array_len(v)
    if type(v) ~= "table" then return nil end
    local n = 0
    for k in pairs(v) do
        if type(k) ~= "number" then return nil end
        n = n + 1
    end
    for i = 1, n do if v[i] == nil then return nil end end
    return n
end

-- A JSON object decoded by cjson: a table with only string keys (an empty {} or [] counts).
local function is_object(v)
    if type(v) ~= "table" then return false end
    for k in pairs(v) do if type(k) ~= "string" then return false end end
    return true
end

local function is_count(v) return type(v) == "number" and v >= 0 and v < MAX_INT and v == floor(v) end

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    sort(keys)
    return keys
end

------------------------------------------------------------------------------------------------
-- save

local FN_SAVE = "save_safetensors"

local function check_name(name, where)
    if type(name) ~= "string" then
        raise(fmt("%s: tensors: %s: expected a string name, got %s", FN_SAVE, where, show(name)))
    end
    if name == "" then raise(fmt("%s: tensors: %s: expected a non-empty name, got \"\"", FN_SAVE, where)) end
    if name == "__metadata__" then
        raise(fmt('%s: tensors: %s: "__metadata__" is reserved for the metadata (pass it as the metadata argument)',
                  FN_SAVE, where))
    end
    local bad = utf8_check(name)
    if bad ~= true then
        raise(fmt("%s: tensors: %s: expected a UTF-8 name, got %s (invalid byte at %d)", FN_SAVE, where, show(name), bad))
    end
end

-- tensors (a name -> tensor table, or a list of {name, tensor} pairs) -> ordered {name, tensor}
local function entries_of(tensors)
    if type(tensors) ~= "table" or is_tensor(tensors) then
        raise(fmt("%s: tensors: expected a table of name -> tensor or a list of {name, tensor} pairs, got %s",
                  FN_SAVE, show(tensors)))
    end
    local nstr, nother, a_str, a_other = 0, 0, nil, nil
    for k in pairs(tensors) do
        if type(k) == "string" then nstr, a_str = nstr + 1, a_str or k
        else nother, a_other = nother + 1, a_other or k end
    end
    local list = {}
    if nother == 0 then
        for i, name in ipairs(sorted_keys(tensors)) do
            local t = tensors[name]
            check_name(name, show(name))
            if not is_tensor(t) then
                raise(fmt("%s: tensors: %s: expected a causalconv.Tensor, got %s", FN_SAVE, show(name), show(t)))
            end
            list[i] = { name, t }
        end
        return list
    end
    if nstr > 0 then
        raise(fmt("%s: tensors: expected a table of name -> tensor or a list of {name, tensor} pairs, "
                  .. "got a table with both (keys %s and %s)", FN_SAVE, show(a_str), show(a_other)))
    end
    for k in pairs(tensors) do
        if not (args.is_integer(k) and k >= 1 and k <= nother) then
            raise(fmt("%s: tensors: expected a list of {name, tensor} pairs (keys 1..n), got the key %s",
                      FN_SAVE, show(k)))
        end
    end
    local seen = {}
    for i = 1, nother do
        local pair = tensors[i]
        local where = fmt("pair %d", i)
        if type(pair) ~= "table" or is_tensor(pair) or array_len(pair) ~= 2 then
            raise(fmt("%s: tensors: %s: expected a {name, tensor} pair, got %s", FN_SAVE, where, show(pair)))
        end
        local name, t = pair[1], pair[2]
        check_name(name, where)
        if not is_tensor(t) then
            raise(fmt("%s: tensors: %s (%s): expected a causalconv.Tensor, got %s", FN_SAVE, where, show(name), show(t)))
        end
        if seen[name] then
            raise(fmt("%s: tensors: %s: the name %s is used twice (pairs %d and %d)", FN_SAVE, where, show(name),
                      seen[name], i))
        end
        seen[name] = i
        list[i] = { name, t }
    end
    return list
end

local function check_metadata(metadata)
    if metadata == nil then return nil end
    if type(metadata) ~= "table" or is_tensor(metadata) then
        raise(fmt("%s: metadata: expected a table of string -> string or nil, got %s", FN_SAVE, show(metadata)))
    end
    for k, v in pairs(metadata) do
        if type(k) ~= "string" then
            raise(fmt("%s: metadata: expected string keys, got the key %s", FN_SAVE, show(k)))
        end
        if type(v) ~= "string" then
            raise(fmt("%s: metadata: %s: expected a string value, got %s", FN_SAVE, show(k), show(v)))
        end
        for _, s in ipairs { k, v } do
            local bad = utf8_check(s)
            if bad ~= true then
                raise(fmt("%s: metadata: %s: expected UTF-8 text, got %s (invalid byte at %d)", FN_SAVE, show(k),
                          show(s), bad))
            end
        end
    end
    return metadata
end

local tmp_counter = 0
local function temp_path(path)
    tmp_counter = tmp_counter + 1
    return fmt("%s.tmp-%d-%d", path, tonumber(ffi.C.cc_st_getpid()), tmp_counter)
end

-- Writes the header and every tensor's bytes to f -> true, or nil and the I/O error.
local function write_body(f, header, list)
    local ok, err = f:write(header)
    if not ok then return nil, err end
    for _, e in ipairs(list) do
        local t = e[2]:detach()
        if t._h.device ~= C.CC_CPU then t = t:to("cpu") end
        t = t:contiguous()
        local n = t:numel() * t:element_size()
        local p = ffi.cast("const char *", t:data_ptr())
        local off = 0
        while off < n do
            local len = math.min(CHUNK, n - off)
            ok, err = f:write(ffi.string(p + off, len))
            if not ok then return nil, err end
            off = off + len
        end
        if t._h == nil then error("unreachable") end   -- keeps t (and its data) alive while p is used
    end
    ok, err = f:flush()
    if not ok then return nil, err end
    return true
end

function M.save_safetensors(tensors, path, metadata)
    local list = entries_of(tensors)
    if type(path) ~= "string" or path == "" then
        raise(fmt("%s: path: expected a non-empty string, got %s", FN_SAVE, show(path)))
    end
    metadata = check_metadata(metadata)

    -- the header, from shapes and dtypes alone (no data is touched yet)
    local parts, offset = {}, 0
    if metadata ~= nil then
        local kv = {}
        for i, k in ipairs(sorted_keys(metadata)) do kv[i] = json_string(k) .. ":" .. json_string(metadata[k]) end
        parts[1] = '"__metadata__":{' .. concat(kv, ",") .. "}"
    end
    for _, e in ipairs(list) do
        local t = e[2]
        local dims = {}
        for i, s in ipairs(args.shape_of(t)) do dims[i] = int_str(s) end
        local nbytes = t:numel() * t:element_size()
        parts[#parts + 1] = fmt('%s:{"dtype":"%s","shape":[%s],"data_offsets":[%s,%s]}', json_string(e[1]),
                                ST_NAME[t._h.dtype], concat(dims, ","), int_str(offset), int_str(offset + nbytes))
        offset = offset + nbytes
    end
    local header = "{" .. concat(parts, ",") .. "}"
    header = header .. (" "):rep((8 - #header % 8) % 8)
    header = u64_le(#header) .. header

    local tmp = temp_path(path)
    local f, err = io.open(tmp, "wbx")
    if not f then raise(fmt("%s: %s: cannot create the temporary file %s (%s)", FN_SAVE, path, tmp, tostring(err))) end
    local ok, res, werr = pcall(write_body, f, header, list)
    if not ok or not res then
        f:close()
        os.remove(tmp)
        if not ok then error(res, 0) end   -- already blames the user's line
        raise(fmt("%s: %s: writing %s failed (%s)", FN_SAVE, path, tmp, tostring(werr)))
    end
    ok, err = f:close()
    if not ok then
        os.remove(tmp)
        raise(fmt("%s: %s: closing %s failed (%s)", FN_SAVE, path, tmp, tostring(err)))
    end
    ok, err = os.rename(tmp, path)
    if not ok then
        os.remove(tmp)
        raise(fmt("%s: %s: renaming %s over it failed (%s)", FN_SAVE, path, tmp, tostring(err)))
    end
end

------------------------------------------------------------------------------------------------
-- load

local FN_LOAD = "load_safetensors"
local LOAD_OPTS = { { "device", "device" }, { "names", "list" } }
local ENTRY_KEYS = { dtype = true, shape = true, data_offsets = true }

-- Parses and validates a header whose data section has data_len bytes -> the entries sorted by
-- offset ({name, dtype, code, shape, begin, stop, span}) and the metadata table. bad(msg) raises.
local function parse_header(text, data_len, bad)
    if text:sub(1, 1) ~= "{" then
        bad(#text == 0 and "the header is empty (expected a JSON object)"
            or fmt("the header is not a JSON object (it starts with %q)", text:sub(1, 16)))
    end
    local pos = utf8_check(text)
    if pos ~= true then bad(fmt("the header is not valid UTF-8 (byte %d of the header)", pos)) end
    local ok, doc = pcall(get_json().decode, text)
    if not ok then bad(fmt("the header is not valid JSON (%s)", (tostring(doc):gsub("^.-:%d+: ", "")))) end
    if not is_object(doc) then bad("the header is not a JSON object, got " .. jshow(doc)) end

    local metadata = {}
    local md = doc.__metadata__
    if md ~= nil then
        if not is_object(md) then bad("__metadata__: expected an object of string -> string, got " .. jshow(md)) end
        for k, v in pairs(md) do
            if type(v) ~= "string" then bad(fmt("__metadata__: %s: expected a string value, got %s", show(k), jshow(v))) end
            metadata[k] = v
        end
    end

    local entries = {}
    for _, name in ipairs(sorted_keys(doc)) do   -- sorted: the first bad entry reported is always the same
        local e = doc[name]
        if name ~= "__metadata__" then
            local what = "tensor " .. show(name)
            if type(e) ~= "table" or not is_object(e) or next(e) == nil then
                bad(fmt('%s: expected an object {"dtype", "shape", "data_offsets"}, got %s', what, jshow(e)))
            end
            for k in pairs(e) do
                if not ENTRY_KEYS[k] then bad(fmt("%s: unknown key %s (expected dtype, shape, data_offsets)", what, show(k))) end
            end
            for _, k in ipairs { "dtype", "shape", "data_offsets" } do
                if e[k] == nil then bad(fmt("%s: missing %s", what, k)) end
            end
            local dt = e.dtype
            if type(dt) ~= "string" then bad(fmt("%s: dtype: expected a string, got %s", what, jshow(dt))) end
            local code, itemsize = ST_CODE[dt], nil
            if code then itemsize = args.dtype_bytes(code)
            elseif OTHER_ITEMSIZE[dt] then itemsize = OTHER_ITEMSIZE[dt]
            else bad(fmt("%s: unknown dtype %s (causalconv loads %s)", what, show(dt), SUPPORTED)) end

            local shape = e.shape
            local ndim = array_len(shape)
            if not ndim then bad(fmt("%s: shape: expected a list of non-negative integers, got %s", what, jshow(shape))) end
            local numel = 1
            for i = 1, ndim do
                if not is_count(shape[i]) then
                    bad(fmt("%s: shape: expected a list of non-negative integers, got %s at position %d", what,
                            jshow(shape[i]), i))
                end
                numel = numel * shape[i]
            end
            if ndim > 8 and code then bad(fmt("%s: shape has %d dims; causalconv tensors have at most 8", what, ndim)) end

            local offs = e.data_offsets
            local noffs = array_len(offs)
            if noffs ~= 2 or not is_count(offs[1]) or not is_count(offs[2]) then
                local got = not noffs and jshow(offs) or noffs ~= 2 and fmt("a list of %d value%s", noffs, noffs == 1 and "" or "s")
                    or fmt("%s and %s", jshow(offs[1]), jshow(offs[2]))
                bad(fmt("%s: data_offsets: expected two non-negative integers [begin, end], got %s", what, got))
            end
            local b, s = offs[1] + 0, offs[2] + 0   -- + 0: a JSON -0 becomes 0
            local span = fmt("data_offsets [%s, %s]", int_str(b), int_str(s))
            if b > s then bad(fmt("%s: %s: begin is after end", what, span)) end
            if s > data_len then
                bad(fmt("%s: %s go beyond the end of the data section (%s bytes; truncated file?)", what, span,
                        int_str(data_len)))
            end
            local shape_s = {}
            for i = 1, ndim do shape_s[i] = int_str(shape[i] + 0) end
            if s - b ~= numel * itemsize then
                bad(fmt("%s: %s hold %s bytes, but %s (%s) needs %s", what, span, int_str(s - b), dt,
                        concat(shape_s, ", "), int_str(numel * itemsize)))
            end
            local sizes = {}
            for i = 1, ndim do sizes[i] = shape[i] + 0 end
            entries[#entries + 1] = { name = name, dtype = dt, code = code, shape = sizes, begin = b, stop = s, span = span }
        end
    end

    -- the tensors must cover the data section exactly, as Hugging Face's loader requires
    sort(entries, function(x, y)
        if x.begin ~= y.begin then return x.begin < y.begin end
        if x.stop ~= y.stop then return x.stop < y.stop end
        return x.name < y.name
    end)
    local cursor, prev = 0, nil
    for _, e in ipairs(entries) do
        if e.begin < cursor then
            bad(fmt("tensor %s: %s overlap tensor %s (%s)", show(e.name), e.span, show(prev.name), prev.span))
        elseif e.begin > cursor then
            bad(fmt("tensor %s: %s leave a hole: bytes %s to %s of the data section belong to no tensor "
                    .. "(the data section must be covered exactly)", show(e.name), e.span, int_str(cursor), int_str(e.begin)))
        end
        if e.stop > e.begin then cursor, prev = e.stop, e end
    end
    if cursor ~= data_len then
        bad(fmt("%s trailing bytes: the tensors cover %s bytes of the data section, the file has %s "
                .. "(the data section must be covered exactly)", int_str(data_len - cursor), int_str(cursor), int_str(data_len)))
    end
    return entries, metadata
end

function M.load_safetensors(path, opts)
    if type(path) ~= "string" or path == "" then
        raise(fmt("%s: path: expected a non-empty string, got %s", FN_LOAD, show(path)))
    end
    opts = args.options(FN_LOAD, opts, LOAD_OPTS)
    local want
    if opts.names ~= nil then
        local n = array_len(opts.names)
        if not n and next(opts.names) ~= nil then
            raise(fmt("%s: names: expected a list of tensor names, got %s", FN_LOAD, show(opts.names)))
        end
        want = {}
        for i = 1, n or 0 do
            local v = opts.names[i]
            if type(v) ~= "string" then
                raise(fmt("%s: names: expected a list of strings, got %s at position %d", FN_LOAD, show(v), i))
            end
            want[v] = true
        end
    end
    if opts.device ~= nil then args.device(FN_LOAD, opts.device) end

    local f
    local function bad(msg)
        if f then f:close(); f = nil end
        raise(fmt("%s: %s: %s", FN_LOAD, path, msg))
    end
    local err
    f, err = io.open(path, "rb")
    if not f then
        local reason = tostring(err)
        if reason:sub(1, #path + 2) == path .. ": " then reason = reason:sub(#path + 3) end
        bad("cannot open the file (" .. reason .. ")")
    end
    local size = f:seek("end")
    if not size or not f:seek("set", 0) then bad("cannot read the file (not a regular file?)") end
    local head, rerr = f:read(8)
    if size > 0 and head == nil and rerr then bad("cannot read the file (" .. tostring(rerr) .. ")") end
    head = head or ""
    if #head < 8 then
        bad(fmt("the file is %d bytes, too short for a safetensors file (it starts with an 8-byte header size)", #head))
    end
    local n = 0
    for i = 8, 1, -1 do n = n * 256 + byte(head, i) end
    if n > MAX_HEADER then
        bad(fmt("the header size %s is larger than the %d-byte limit (not a safetensors file?)",
                n < MAX_INT and int_str(n) or "0x" .. head:reverse():gsub(".", function(c) return fmt("%02x", byte(c)) end),
                MAX_HEADER))
    end
    if n > size - 8 then
        bad(fmt("the header size %s goes beyond the end of the file (%s bytes; truncated file?)", int_str(n), int_str(size)))
    end
    local text = n > 0 and f:read(n) or ""
    if #(text or "") ~= n then bad("the file ended inside the header (truncated file?)") end
    local data_len = size - 8 - n
    local entries, metadata = parse_header(text, data_len, bad)

    -- the tensors to load, checked before anything is allocated
    local load = {}
    for _, e in ipairs(entries) do
        if not want or want[e.name] then
            if not e.code then
                bad(fmt("tensor %s has dtype %s, which causalconv does not support (it loads %s; "
                        .. "opts.names selects the tensors to load)", show(e.name), e.dtype, SUPPORTED))
            end
            load[#load + 1] = e
        end
    end
    if want then
        local have = {}
        for _, e in ipairs(entries) do have[e.name] = true end
        for i = 1, #opts.names do
            if not have[opts.names[i]] then bad(fmt("names: no tensor named %s in the file", show(opts.names[i]))) end
        end
    end

    local out = {}
    local base = 8 + n
    local at = base   -- the file position after the header
    for _, e in ipairs(load) do
        local ok, t = pcall(tensor.empty, e.shape, { dtype = args.DTYPE_NAME[e.code] })
        if not ok then
            local why = tostring(t):gsub("^.-:%d+: ", ""):gsub("^empty: ", "")
            bad(fmt("tensor %s: %s", show(e.name), why))
        end
        local len = e.stop - e.begin
        if len > 0 then
            if at ~= base + e.begin then
                if not f:seek("set", base + e.begin) then bad("cannot seek in the file") end
            end
            local p = ffi.cast("char *", t:data_ptr())
            local off = 0
            while off < len do
                local want_len = math.min(CHUNK, len - off)
                local s = f:read(want_len)
                if not s or #s ~= want_len then bad("the file ended inside the data of tensor " .. show(e.name) .. " (truncated file?)") end
                ffi.copy(p + off, s, want_len)
                off = off + want_len
            end
            at = base + e.stop
        end
        out[e.name] = t
    end
    f:close()
    f = nil
    if opts.device ~= nil then
        for _, e in ipairs(load) do out[e.name] = out[e.name]:to(opts.device) end
    end
    return out, metadata
end

return M
