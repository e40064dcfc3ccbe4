-- data.save_images: a grid of tiles written as a PNG, read back through
-- data.images (a folder with one class folder), pixel by pixel.
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir .. "/grey/a " .. dir .. "/colour/a"))

local function close(a, b, what) assert(math.abs(a - b) < 1.5 / 255, string.format("%s: %g, expected %g", what, a, b)) end

-- Two grey samples [1, 2, 2] side by side: 1 + 2 * (2 + 1) by 1 + (2 + 1) pixels.
local images = tensor{{{{0, 1}, {0.5, 0.25}}}, {{{1, 1}, {1, 1}}}}
local w, h = data.save_images(dir .. "/grey/a/grid.png", images, {columns = 2, range = {0, 1}})
assert(w == 7 and h == 4, string.format("grey grid is %d x %d, expected 7 x 4", w, h))
local grey = data.images(dir .. "/grey"):get(1)            -- [1, 4, 7], pixels in 0..1
assert(grey:size(2) == 4 and grey:size(3) == 7)
close(grey:get(1, 2, 2), 0, "tile 1 (1, 1)")
close(grey:get(1, 2, 3), 1, "tile 1 (1, 2)")
close(grey:get(1, 3, 2), 0.5, "tile 1 (2, 1)")
close(grey:get(1, 3, 3), 0.25, "tile 1 (2, 2)")
close(grey:get(1, 2, 5), 1, "tile 2")
assert(grey:get(1, 1, 1) > 0.2 and grey:get(1, 1, 1) < 0.5, "the gaps are neither black nor white")

-- The shared range: black..white are the smallest..largest value (-2..2),
-- and scale 2 draws each value as 2 x 2 pixels.
w, h = data.save_images(dir .. "/grey/a/grid.png", tensor{{{-2, 0}, {2, 2}}}, {scale = 2, gap = 0})
assert(w == 4 and h == 4, string.format("scaled grid is %d x %d", w, h))
grey = data.images(dir .. "/grey"):get(1)
close(grey:get(1, 1, 1), 0, "-2 is black")
close(grey:get(1, 2, 2), 0, "a value is 2 x 2 pixels")
close(grey:get(1, 1, 3), 128 / 255, "0 is mid grey")
close(grey:get(1, 4, 4), 1, "2 is white")

-- Three planes are one colour tile; a list of tensors puts their samples side by side.
local red = tensor{{{{1}}, {{0}}, {{0.5}}}}                -- [1, 3, 1, 1]
local blue = tensor{{{{0}}, {{0}}, {{1}}}}
w, h = data.save_images(dir .. "/colour/a/pair.png", {red, blue}, {range = {0, 1}})
assert(w == 5 and h == 3, string.format("colour pair is %d x %d, expected 5 x 3", w, h))
local rgb = data.images(dir .. "/colour", {grayscale = false}):get(1)   -- [3, 3, 5]
close(rgb:get(1, 2, 2), 1, "red tile: red")
close(rgb:get(2, 2, 2), 0, "red tile: green")
close(rgb:get(3, 2, 2), 0.5, "red tile: blue")
close(rgb:get(1, 2, 4), 0, "blue tile: red")
close(rgb:get(3, 2, 4), 1, "blue tile: blue")

-- Bad input names the function and the problem.
local ok, err = pcall(data.save_images, dir .. "/x.png", tensor{1, 2})
assert(not ok and err:find("%[N, H, W%] or %[N, C, H, W%]"), err)
ok, err = pcall(data.save_images, dir .. "/x.png", {red, images})
assert(not ok and err:find("one shape"), err)
ok, err = pcall(data.save_images, dir .. "/x.unknown", red)
assert(not ok and err:find("x.unknown"), err)
ok, err = pcall(data.save_images, dir .. "/x.png", red, {range = {1, 0}})
assert(not ok and err:find("lo < hi"), err)

os.execute("rm -rf " .. dir)
print("save_images: ok")
