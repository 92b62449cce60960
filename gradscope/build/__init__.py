"""Ground layer: build what a config names: model, data, loss, optimizer, schedule, bundled samples."""
