"""runner/tools"""
