module brokerchaos/reaper

go 1.21
