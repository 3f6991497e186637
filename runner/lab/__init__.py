"""runner/lab"""
