import difflib
from paramtool.cli import docs
def test_x():
    a=docs.PAGE.read_text().splitlines(); b=docs.render().splitlines()
    print('\n'.join(list(difflib.unified_diff(a,b,lineterm=''))[:40]))
    assert 0
