-- Loss and accuracy curves of a training run as a PNG or SVG (gnuplot), for experiments/mamba_block.lua:
-- the per-batch series as a rolling median inside a 10-90 percentile band (their spread).
--   plot.plot(path, history, title)   history: { {step =, loss =, acc =, val = (or nil)}, ... }
--   plot.read_log(csv_path)           the same history from mamba_block.lua's --log file
--   plot.rolling_band(values, window) the 10th, 50th, 90th percentile lists over a rolling window
-- Returns true, or nil and a message.
local plot = {}

function plot.read_log(path)
    local history = {}
    local f = assert(io.open(path, "r"))
    local header = f:read("*l")
    for line in f:lines() do
        local step, loss, acc, val = line:match("^(%d+),([^,]*),([^,]*),([^,]*),")
        if step then
            history[#history + 1] = { step = tonumber(step), loss = tonumber(loss), acc = tonumber(acc), val = tonumber(val) }
        end
    end
    f:close()
    assert(header, "empty log " .. path)
    return history
end

-- The spread of a noisy per-batch series: the 10th, 50th and 90th percentile over a window of
-- the last `window` logged points (fewer at the start).
function plot.rolling_band(values, window)
    local lo, mid, hi = {}, {}, {}
    for i = 1, #values do
        local w = {}
        for j = math.max(1, i - window + 1), i do w[#w + 1] = values[j] end
        table.sort(w)
        local function q(p) return w[math.floor(p * (#w - 1) + 0.5) + 1] end
        lo[i], mid[i], hi[i] = q(0.1), q(0.5), q(0.9)
    end
    return lo, mid, hi
end

function plot.plot(path, history, title)
    local loss, acc = {}, {}
    for i, h in ipairs(history) do loss[i], acc[i] = h.loss, h.acc end
    local window = math.max(5, math.floor(#history / 40))
    local l10, l50, l90 = plot.rolling_band(loss, window)
    local a10, a50, a90 = plot.rolling_band(acc, window)
    local rows = {}
    for i, h in ipairs(history) do
        rows[i] = { h.step, string.format("%.6g", h.loss), string.format("%.4f", h.acc), h.val and string.format("%.4f", h.val) or "NaN",
                    string.format("%.6g", l10[i]), string.format("%.6g", l50[i]), string.format("%.6g", l90[i]),
                    string.format("%.4f", a10[i]), string.format("%.4f", a50[i]), string.format("%.4f", a90[i]) }
    end
    local band = string.format("10-90%% of the last %d logged batches", window)
    return require("bench_util").gnuplot(path, "1100,800", rows, function(data)
        return {
            "set datafile missing 'NaN'",
            "set multiplot layout 2,1 title '" .. (title or ""):gsub("'", "''") .. "' noenhanced",
            "set grid",
            "set xlabel 'step'",
            "set ylabel 'loss (cross-entropy at the predicting positions)'",
            "set logscale y",
            "set style fill transparent solid 0.25 noborder",
            string.format("plot '%s' using 1:5:7 with filledcurves lc rgb '#4477aa' title '%s', "
                .. "'' using 1:6 with lines lw 2 lc rgb '#4477aa' title 'training loss (rolling median)'", data, band),
            "unset logscale y",
            "set ylabel 'accuracy'",
            "set yrange [0:1.02]",
            "set key bottom right",
            string.format("plot '%s' using 1:8:10 with filledcurves lc rgb '#999999' title 'training batch, %s', "
                .. "'' using 1:9 with lines lw 1 lc rgb '#666666' title 'training batch (rolling median)', "
                .. "'' using 1:4 with linespoints lw 2 pt 7 ps 0.6 title 'validation (fixed set)', 0.95 with lines dt 2 lc rgb 'black' title '95%%'", data, band),
            "unset multiplot",
        }
    end)
end

return plot
