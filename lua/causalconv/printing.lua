-- Printing tensors: tostring(x) / print(x), in the style of Torch7. One format for the whole
-- tensor (integers as integers, a wide dynamic range as %.4e, else %.4f), at most LINE_WIDTH
-- columns with "Columns a to b" headers, tensors of more than 2 dims as (i,j,.,.) = matrix
-- slices, summarised (first and last EDGE entries of every long dim) above SUMMARY_THRESHOLD
-- elements, and always a footer [causalconv.Tensor dtype device of size AxB].
-- Installs Tensor.mt.__tostring (through Tensor.add_method); exports cc.set_printoptions
-- {linewidth = n} (the REPL sets it to the terminal's width) and cc.get_printoptions().
local F = require "causalconv.ffi"
local args = require "causalconv.args"
local Tensor = require("causalconv.tensor").Tensor
local ffi, C, check = F.ffi, F.C, F.check

local floor, huge = math.floor, math.huge
local fmt = string.format
local concat = table.concat
local shape_of = args.shape_of

local SUMMARY_THRESHOLD = 1000   -- more elements than this print summarised
local EDGE = 3                   -- elements shown at each end of a summarised dim
local options = { linewidth = 80 }   -- LINE_WIDTH: columns a printed line may take

local function exact(v)   -- int64 cdata -> number when exact, else the cdata
    if v >= -9007199254740992LL and v <= 9007199254740992LL then return tonumber(v) end
    return v
end

local function num_str(v, int, style)
    if int then return (tostring(exact(v)):gsub("LL$", "")) end
    if v ~= v then return "nan" end
    if v == huge then return "inf" end
    if v == -huge then return "-inf" end
    return fmt(style, v)
end

-- One format for the whole tensor, chosen from the values shown.
local function choose_style(p, count, int)
    if int then return nil end
    local amax, amin, all_int = 0, huge, true
    for i = 0, count - 1 do
        local v = p[i]
        if v == v and v ~= huge and v ~= -huge then
            local a = math.abs(v)
            if a > amax then amax = a end
            if a > 0 and a < amin then amin = a end
            if v ~= floor(v) then all_int = false end
        end
    end
    if all_int and amax < 1e9 then return "%.0f" end
    if amax >= 1e5 or amin < 1e-4 then return "%.4e" end
    return "%.4f"
end

local function host_dtype(x) return args.is_int_dtype(x._h.dtype) and C.CC_I64 or C.CC_F64 end

local function narrow(t, d, start0, len) return Tensor.view_from_c(C.cc_tensor_narrow, t._h, d - 1, start0, len) end

-- Copies the shown part of x (all of it, or the first/last EDGE along every long dim when
-- summarising) into a contiguous f64 (i64) host tensor. Returns it and, per dim, the cut flags.
local function shown_part(x)
    local sizes = shape_of(x)
    local cut, shown, cut_dims = {}, {}, {}
    local summarise = tonumber(C.cc_tensor_numel(x._h)) > SUMMARY_THRESHOLD
    for d = 1, #sizes do
        if summarise and sizes[d] > 2 * EDGE then
            cut[d] = true
            shown[d] = 2 * EDGE
            cut_dims[#cut_dims + 1] = d
        else
            shown[d] = sizes[d]
        end
    end
    local buf = ffi.new("int64_t[8]")
    for i = 1, #shown do buf[i - 1] = shown[i] end
    local dst = Tensor.from_c(C.cc_tensor_empty, #shown, buf, host_dtype(x), C.CC_CPU, 0)
    for combo = 0, 2 ^ #cut_dims - 1 do
        local s, t = x, dst
        for j, d in ipairs(cut_dims) do
            if floor(combo / 2 ^ (j - 1)) % 2 == 0 then
                s, t = narrow(s, d, 0, EDGE), narrow(t, d, 0, EDGE)
            else
                s, t = narrow(s, d, sizes[d] - EDGE, EDGE), narrow(t, d, EDGE, EDGE)
            end
        end
        check(C.cc_tensor_copy(t._h, s._h))
    end
    return dst, cut
end

local function footer(x)
    local sizes = shape_of(x)
    local s = #sizes == 0 and "()" or concat(sizes, "x")
    return fmt("[causalconv.Tensor %s %s of size %s]", args.DTYPE_NAME[x._h.dtype], args.device_name(x._h), s)
end

-- Original 1-based index of shown position j along a dim of size `size`.
local function orig(j, size, is_cut)
    if is_cut and j > EDGE then return size - 2 * EDGE + j end
    return j
end

local function tostring_tensor(self)
    local sizes = shape_of(self)
    local n = #sizes
    if tonumber(C.cc_tensor_numel(self._h)) == 0 then return footer(self) end
    local host, cut = shown_part(self)
    local h = host._h
    local int = h.dtype == C.CC_I64
    local p = ffi.cast(int and "int64_t*" or "double*", C.cc_tensor_data(h))
    local shown = shape_of(host)
    local count = tonumber(C.cc_tensor_numel(h))
    local style = choose_style(p, count, int)
    local strs, width = {}, 0
    for i = 0, count - 1 do
        local s = num_str(p[i], int, style)
        strs[i] = s
        if #s > width then width = #s end
    end
    if host._h == nil then error("unreachable") end   -- keeps host alive while p is read
    local function cell(k) return string.rep(" ", width - #strs[k]) .. strs[k] end
    local ell = string.rep(" ", width - 3) .. "..."
    local out = {}
    if n == 0 then
        out[1] = strs[0]
    elseif n == 1 then
        local line = {}
        local per_line = math.max(1, floor((options.linewidth + 1) / (width + 2)))
        local items = {}
        for j = 1, shown[1] do
            items[#items + 1] = cell(j - 1)
            if cut[1] and j == EDGE then items[#items + 1] = ell end
        end
        for i = 1, #items do
            line[#line + 1] = items[i]
            if #line == per_line or i == #items then
                out[#out + 1] = " " .. concat(line, "  ")
                line = {}
            end
        end
    else
        local rows, cols = shown[n - 1], shown[n]
        local ncols_all = cols + (cut[n] and 1 or 0)
        local per_chunk = math.max(1, floor((options.linewidth + 1) / (width + 2)))
        local function matrix(base)   -- base: offset of the slice in host
            local col_items = {}
            for c = 1, cols do
                col_items[#col_items + 1] = c
                if cut[n] and c == EDGE then col_items[#col_items + 1] = false end
            end
            for c0 = 1, ncols_all, per_chunk do
                local c1 = math.min(ncols_all, c0 + per_chunk - 1)
                if ncols_all > per_chunk then
                    local first, last = col_items[c0], col_items[c1]
                    first = first or col_items[c0 + 1]
                    last = last or col_items[c1 - 1]
                    out[#out + 1] = fmt("Columns %d to %d", orig(first, sizes[n], cut[n]), orig(last, sizes[n], cut[n]))
                end
                for r = 1, rows do
                    local line = {}
                    for ci = c0, c1 do
                        local c = col_items[ci]
                        line[#line + 1] = c and cell(base + (r - 1) * cols + (c - 1)) or ell
                    end
                    out[#out + 1] = " " .. concat(line, "  ")
                    if cut[n - 1] and r == EDGE then out[#out + 1] = " " .. ell end
                end
                if c1 < ncols_all then out[#out + 1] = "" end
            end
        end
        if n == 2 then
            matrix(0)
        else
            -- every combination of the leading indices, last leading dim fastest
            local lead = {}
            for d = 1, n - 2 do lead[d] = 1 end
            local slice = rows * cols
            local k = 0
            while true do
                local label = {}
                for d = 1, n - 2 do label[d] = orig(lead[d], sizes[d], cut[d]) end
                out[#out + 1] = "(" .. concat(label, ",") .. ",.,.) ="
                matrix(k * slice)
                k = k + 1
                local d = n - 2
                while d >= 1 do
                    if lead[d] < shown[d] then
                        if cut[d] and lead[d] == EDGE then out[#out + 1] = "" out[#out + 1] = "..." end
                        lead[d] = lead[d] + 1
                        break
                    end
                    lead[d] = 1
                    d = d - 1
                end
                if d < 1 then break end
                out[#out + 1] = ""
            end
        end
    end
    out[#out + 1] = footer(self)
    return concat(out, "\n")
end

Tensor.add_method("__tostring", tostring_tensor)

local M = {}

-- cc.set_printoptions({linewidth = n}): tensors print in at most n columns (default 80).
function M.set_printoptions(opts)
    if type(opts) ~= "table" then
        F.raise("set_printoptions: expected a table {linewidth = n}, got " .. args.show(opts))
    end
    for k, v in pairs(opts) do
        if k ~= "linewidth" then F.raise("set_printoptions: unknown option " .. tostring(k) .. " (known: linewidth)") end
        if not args.is_integer(v) or v < 10 or v > 100000 then
            F.raise("set_printoptions: linewidth: expected an integer from 10 to 100000, got " .. args.show(v))
        end
        options.linewidth = v
    end
end

-- cc.get_printoptions(): a copy of the current options ({linewidth = 80}).
function M.get_printoptions() return { linewidth = options.linewidth } end

return M
