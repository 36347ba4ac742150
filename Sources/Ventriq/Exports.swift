// `import Ventriq` gives the whole runtime: readers, conditioning, the model file and the engine.
@_exported import VentriqEngine
@_exported import VentriqIO
@_exported import VentriqModel
@_exported import VentriqSignal
