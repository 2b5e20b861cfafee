"""A compact version of the classic Richards OS-scheduler benchmark (objects, method calls)."""
import sys


class Packet:
    def __init__(self, link, ident, kind):
        self.link, self.ident, self.kind, self.datum, self.data = link, ident, kind, 0, [0] * 4

    def append_to(self, lst):
        self.link = None
        if lst is None:
            return self
        p = lst
        while p.link is not None:
            p = p.link
        p.link = self
        return lst


class Task:
    def __init__(self, scheduler, ident, priority, queue):
        self.scheduler, self.ident, self.priority, self.queue = scheduler, ident, priority, queue
        self.waiting = queue is not None
        self.held = False
        self.count = 0

    def runnable(self):
        return not self.held and (self.queue is not None or not self.waiting)

    def run(self):
        self.count += 1
        pkt = None
        if self.queue is not None:
            pkt, self.queue = self.queue, self.queue.link
        return self.fn(pkt)

    def fn(self, pkt):
        if pkt is not None:
            pkt.datum = (pkt.datum + self.ident) % 26
            target = self.scheduler.tasks[(self.ident + 1) % len(self.scheduler.tasks)]
            return self.scheduler.send(pkt, target)
        return None


class Scheduler:
    def __init__(self, ntasks):
        self.tasks = []
        for i in range(ntasks):
            queue = Packet(None, i, 0) if i % 2 == 0 else None
            self.tasks.append(Task(self, i, i, queue))

    def send(self, pkt, task):
        task.queue = pkt.append_to(task.queue)
        return task

    def schedule(self, steps):
        done = 0
        for step in range(steps):
            task = self.tasks[step % len(self.tasks)]
            if task.runnable():
                task.run()
                done += 1
        return done


n = int(sys.argv[1]) if len(sys.argv) > 1 else 300000
print(Scheduler(10).schedule(n))
