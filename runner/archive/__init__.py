"""runner/archive"""
