"""runner/catalog"""
