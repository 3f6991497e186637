"""runner/matrix"""
