__version__ = '6.0.1'
version = tuple(__version__.split('.'))
release_date = "2024-09-24"
