"""runner/core"""
