"""The inference side: frames, the method's stages, the pipeline and (later) the gRPC service."""
