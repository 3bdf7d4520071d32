-- Loss and accuracy curves of a training run as a PNG (gnuplot), for experiments/mamba_block.lua.
--   plot.plot(path, history, title)   history: { {step =, loss =, acc =, val = (or nil)}, ... }
--   plot.read_log(csv_path)           the same history from mamba_block.lua's --log file
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

function plot.plot(path, history, title)
    local rows = {}
    for i, h in ipairs(history) do
        rows[i] = { h.step, string.format("%.6g", h.loss), string.format("%.4f", h.acc), h.val and string.format("%.4f", h.val) or "NaN" }
    end
    return require("bench_util").gnuplot(path, "1100,800", rows, function(data)
        return {
            "set datafile missing 'NaN'",
            "set multiplot layout 2,1 title '" .. (title or ""):gsub("'", "''") .. "' noenhanced",
            "set grid",
            "set xlabel 'step'",
            "set ylabel 'loss (cross-entropy at the predicting positions)'",
            "set logscale y",
            string.format("plot '%s' using 1:2 with lines lw 1 title 'training loss'", data),
            "unset logscale y",
            "set ylabel 'accuracy'",
            "set yrange [0:1.02]",
            "set key bottom right",
            string.format("plot '%s' using 1:3 with lines lw 1 lc rgb '#999999' title 'training batch', "
                .. "'' using 1:4 with linespoints lw 2 pt 7 ps 0.6 title 'validation (fixed set)', 0.95 with lines dt 2 lc rgb 'black' title '95%%'", data),
            "unset multiplot",
        }
    end)
end

return plot
