"""The venue's vocabulary: values, reject codes, commands, events. No I/O."""
