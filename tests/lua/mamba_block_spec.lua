-- experiments/mamba_block.lua as a user runs it: the result line, the log, a checkpoint that
-- cc.nn.load reads, a resumed run that continues the uninterrupted run's loss curve exactly,
-- the same curve for 1 and 2 threads, and clear errors for bad flags.
local cc = require "causalconv"

local SCRIPT = "experiments/mamba_block.lua"
local SMALL = "--task induction_heads --vocab 8 --seq_len 16 --d_model 16 --n_layer 1 --d_state 4 --batch 8 "
    .. "--val_size 40 --eval_every 5 --warmup 4 --schedule constant --quiet "

local function run(flags)
    local p = io.popen("luajit " .. SCRIPT .. " " .. flags .. " 2>&1; echo \"exit status $?\"")
    local out = p:read("*a")
    p:close()
    local status = tonumber(out:match("exit status (%d+)\n$"))
    return out:gsub("exit status %d+\n$", ""), status == 0
end

-- the step, loss, train_acc, lr and seq_len columns (not the timings, nor the validation
-- accuracy, which a run also measures at its last step)
local function curve(path)
    local rows = {}
    for line in io.lines(path) do
        local step, loss, acc, _, lr, len = line:match("^(%d+),([^,]*),([^,]*),([^,]*),([^,]*),([^,]*),")
        if step then rows[#rows + 1] = table.concat({ step, loss, acc, lr, len }, ",") end
    end
    return rows
end

describe("experiments/mamba_block.lua", function()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)

    it("trains, logs, saves a checkpoint cc.nn.load reads, and ends with the result line", function()
        local out = run(SMALL .. "--steps 10 --log " .. dir .. "/a.csv --save " .. dir .. "/a.safetensors")
        local last = out:match("([^\n]*)\n?$")
        assert.truthy(last:match("^result: task=induction_heads steps=10 accuracy=[%d.]+ seconds=[%d.]+$"), out)
        assert.equal(10, #curve(dir .. "/a.csv"))
        local lm, meta = cc.nn.load(dir .. "/a.safetensors")
        assert.equal('{"name": "induction_heads", "vocab": 8, "seq_len": 16}', meta.task)
        assert.equal(16, lm.d_model)
    end)

    it("a resumed run continues the same loss curve, bitwise", function()
        run(SMALL .. "--steps 16 --log " .. dir .. "/full.csv")
        run(SMALL .. "--steps 8 --log " .. dir .. "/part.csv --save " .. dir .. "/part.safetensors")
        local out = run("--resume " .. dir .. "/part.safetensors --steps 16 --quiet --log " .. dir .. "/part.csv")
        assert.truthy(out:find("result: task=induction_heads steps=16", 1, true), out)
        assert.same(curve(dir .. "/full.csv"), curve(dir .. "/part.csv"))
    end)

    it("resumes an interrupted cosine run: the rest of the schedule and of the curve", function()
        local flags = SMALL .. "--schedule cosine --steps 12 "
        run(flags .. "--log " .. dir .. "/c_full.csv")
        -- interrupted: --stop_acc 0 ends the run at its first evaluation (step 5), which saves
        run(flags .. "--save " .. dir .. "/c.safetensors --log " .. dir .. "/c_part.csv --stop_acc 0")
        local out = run("--resume " .. dir .. "/c.safetensors --quiet --stop_acc 2 --log " .. dir .. "/c_part.csv")
        assert.truthy(out:find("steps=12", 1, true), out)
        assert.same(curve(dir .. "/c_full.csv"), curve(dir .. "/c_part.csv"))
    end)

    it("gives the same curve for 1 and 2 threads", function()
        -- large enough that the matmuls are split over the threads (kernels/cpu/matmul.c)
        local flags = SMALL .. "--d_model 32 --batch 16 --seq_len 32 --steps 6 "
        run(flags .. "--threads 1 --log " .. dir .. "/t1.csv")
        run(flags .. "--threads 2 --log " .. dir .. "/t2.csv")
        assert.same(curve(dir .. "/t1.csv"), curve(dir .. "/t2.csv"))
    end)

    it("refuses bad flags and a resume that changes the model", function()
        local out, ok = run("--taks x")
        assert.falsy(ok)
        assert.truthy(out:find("unknown option --taks", 1, true))
        out, ok = run("--task copying")
        assert.falsy(ok)
        assert.truthy(out:find("--task: expected selective_copying or induction_heads", 1, true))
        out, ok = run("--resume " .. dir .. "/part.safetensors --d_model 32")
        assert.falsy(ok)
        assert.truthy(out:find("--d_model: the checkpoint was trained with 16, got 32", 1, true), out)
        out, ok = run("--resume " .. dir .. "/nothing.safetensors")
        assert.falsy(ok)
        assert.truthy(out:find("--resume: cannot read the training state", 1, true), out)
    end)

    teardown(function() os.execute("rm -rf " .. dir) end)
end)

describe("experiments/train_plot.lua", function()
    package.path = "./experiments/?.lua;" .. package.path
    local plot = require "train_plot"

    it("gives the 10th, 50th and 90th percentile over a rolling window, checked by hand", function()
        local values = { 5, 1, 4, 2, 3, 10, 9, 8, 7, 6 }
        local lo, mid, hi = plot.rolling_band(values, 5)
        -- point 1: the window is {5}; point 3: {5, 1, 4}; point 10: {10, 9, 8, 7, 6}
        assert.same({ 5, 5, 5 }, { lo[1], mid[1], hi[1] })
        assert.same({ 1, 4, 5 }, { lo[3], mid[3], hi[3] })
        assert.same({ 6, 8, 10 }, { lo[10], mid[10], hi[10] })
    end)

    it("draws the curves of a log with their spread", function()
        local found = os.execute("command -v gnuplot > /dev/null 2>&1")
        if found ~= 0 and found ~= true then pending("gnuplot is not installed") return end
        local history = {}
        for i = 1, 200 do history[i] = { step = i, loss = 2 / i + (i % 3) * 0.01, acc = math.min(1, i / 150), val = i % 50 == 0 and i / 200 or nil } end
        local path = os.tmpname() .. ".svg"
        assert.is_true(plot.plot(path, history, "spec"))
        local f = assert(io.open(path))
        local svg = f:read("*a")
        f:close()
        os.remove(path)
        assert.truthy(svg:find("<svg", 1, true))
        assert.truthy(svg:find("10-90% of the last 5 logged batches", 1, true))
    end)
end)
