-- dist_fail.lua raise|crash MARKER: trains on 2 ranks; at step 5 rank 1
-- fails while rank 0 waits for it in the gradient allreduce: a Lua error
-- ("raise") or a SIGSEGV ("crash"). Just before, rank 1 creates MARKER,
-- whose time the driver compares with the moment every rank had exited.
local mode, marker = arg[1], arg[2]
local train_ds = data.fashion_mnist()
local model = nn.Sequential{nn.Dense(784, 32, {activation = "relu"}), nn.Dense(32, 10)}
local failing = {on_batch_end = function(_, _, fit)
  if fit.step == 5 and dist.rank() == 1 then
    assert(io.open(marker, "w")):close()
    if mode == "crash" then os.execute("kill -SEGV $PPID; sleep 5") end
    error("deliberate failure on the second rank")
  end
end}
train.fit{model = model, loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model, {lr = 0.01}),
          data = train_ds, epochs = 1, batch_size = 64, verbose = 0, callbacks = {failing}}
error("rank " .. dist.rank() .. " trained to the end; the failure did not stop it")
