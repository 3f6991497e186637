"""runner/execute"""
