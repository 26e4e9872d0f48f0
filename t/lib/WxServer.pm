# SPDX-License-Identifier: Apache-2.0
package WxServer;
# More servers for the tests that need more than Apache::Test's one: a
# whole Apache with mod_wx_valid (the same httpd and module as the suite),
# memcached and Redis, each on a free loopback port in a folder of its own
# under /tmp (world-readable: as root, Apache runs as nobody).  Started and
# stopped by the tests themselves.
#
# And the waits every server of the tests and of the tools (tools/bench,
# tools/soak, t/lib/WxBackend.pm, t/package/deb.pl) goes through: each is
# bounded, knows the pid it waits for, and says what it waited for when it
# gives up (poll, wait_for, alive, wait_ready, stop_pid).
use strict;
use warnings FATAL => 'all';

use Errno qw(EACCES);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG _exit);
use Time::HiRes qw(sleep time);

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "free port: $!";
    return $s->sockport;
}

# -- waits that end ---------------------------------------------------------

# $cond every 50 ms until it returns true (then that value), for $secs s
# at most (then 0).
sub poll {
    my ($secs, $cond) = @_;
    my $end = time + $secs;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return 0 if time >= $end;
        sleep 0.05;
    }
}

# The same, or die: "$what: not after $secs s".
sub wait_for {
    my ($secs, $what, $cond) = @_;
    return poll($secs, $cond) || die "$what: not after $secs s\n";
}

# /proc/$pid/stat: (state, parent pid), or () if there is no such process.
sub _stat {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return ();
    return (<$fh> // '') =~ /^\d+ \(.*\) (\S) (\d+) / ? ($1, $2) : ();
}

# Is $pid a process that runs (not a zombie: an orphan's may linger where
# PID 1 reaps nothing)?  A child of ours that has ended is reaped here.
sub alive {
    my ($pid) = @_;
    return 0 unless $pid;
    my ($state) = _stat($pid);
    return 1 if defined $state && $state !~ /^[ZX]$/;
    local $?;
    waitpid $pid, WNOHANG;
    return 0;
}

# $pid and its descendants, as they are now.
sub tree {
    my ($pid) = @_;
    my %kids;
    opendir my $dh, '/proc' or return ($pid);
    for my $p (grep { /^\d+$/ } readdir $dh) {
        my (undef, $ppid) = _stat($p);
        push @{ $kids{$ppid} }, $p if defined $ppid;
    }
    my @all = ($pid);
    for (my $i = 0; $i < @all; $i++) {
        push @all, @{ $kids{ $all[$i] } // [] };
    }
    return @all;
}

# The pid a pid file names, if it names one.
sub pidfile {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    return (<$fh> // '') =~ /^(\d+)\n/ ? $1 : undef;
}

sub port_answers {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 2);
    close $s if $s;
    return !!$s;
}

# Nothing may answer on $port before a server of ours starts there: the
# one before must be gone, not merely quiet.
sub port_free {
    my ($port, $what) = @_;
    die "$what: 127.0.0.1:$port answers before it started: another server "
      . "is there (one left over from an earlier run?)\n"
        if port_answers($port);
}

# Does $pid hold the socket listening on $port (any local address)?  Only
# where its fds can be read (not another user's process, unless root).
sub listens {
    my ($pid, $port) = @_;
    my %inode;
    for my $table ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $table or next;
        while (my $l = <$fh>) {
            my @f = split ' ', $l;
            $inode{ $f[9] } = 1 if @f > 9 && $f[3] eq '0A'
                && $f[1] =~ /:([0-9A-F]{4})$/ && hex($1) == $port;
        }
    }
    opendir my $dh, "/proc/$pid/fd" or return $! == EACCES;
    return scalar grep {
        (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:\[(\d+)\]$/
            && $inode{$1}
    } readdir $dh;
}

# Until the server $o{what} is up, $o{secs} (10) s at most: its pid
# ($o{pid}, or, for a server that detaches, the one its pid file names)
# runs, its pid file $o{pidfile} (if it has one) names that pid, that pid
# listens on $o{port}, and a connection there is answered.  Dies at once if
# the pid $o{pid} ends; the message names $o{log}.  Returns the pid.
sub wait_ready {
    my (%o) = @_;
    my $what = "$o{what} (" . ($o{pid} ? "pid $o{pid}, " : '')
             . "port $o{port}" . ($o{log} ? "; see $o{log}" : '') . ')';
    return wait_for($o{secs} // 10, "$what: not ready", sub {
        die "$what: ended before it was ready\n"
            if $o{pid} && !alive($o{pid});
        my $pid = $o{pidfile} ? pidfile($o{pidfile}) : $o{pid};
        return 0 unless $pid && (!$o{pid} || $pid == $o{pid}) && alive($pid);
        return listens($pid, $o{port}) && port_answers($o{port})
            ? $pid : 0;
    });
}

# Stop $o{pid}, which $o{what} names, and the processes it started: after
# $o{grace} s (0) for it to end by itself, SIGTERM; $o{secs} (20) s for
# it and its descendants to go; then SIGKILL to all of them, with a
# warning, and 10 s more, or die.  True if no SIGKILL was needed.
sub stop_pid {
    my (%o) = @_;
    my ($pid, $secs) = ($o{pid}, $o{secs} // 20);
    my $what = "$o{what} (pid $pid)";
    return 1 unless alive($pid);
    my @procs = tree($pid);
    my $gone = sub { !grep { alive($_) } @procs };
    if ($o{grace}) {
        return 1 if poll($o{grace}, $gone);
        warn "$what: still there $o{grace} s on; SIGTERM\n";
    }
    kill 'TERM', $pid;
    return 1 if poll($secs, $gone);
    my %seen;
    @procs = grep { !$seen{$_}++ && alive($_) } @procs, tree($pid);
    warn "$what: still there $secs s after SIGTERM; SIGKILL to @procs\n";
    kill 'KILL', @procs;
    poll(10, $gone) or die "$what: still there 10 s after SIGKILL\n";
    return 0;
}

# fork and exec @{ $o{cmd} }, stdout and stderr to $o{log} (or /dev/null),
# after $o{setup}->() in the child; its pid, once it has exec'd (until
# then the child is a copy of this process, with its sockets).  A child
# that cannot get there tells the parent, who dies with its message, and
# leaves at once, running no END or DESTROY of the parent's.
sub spawn {
    my (%o) = @_;
    pipe(my $r, my $w) or die "pipe: $!";    # both close on exec
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $r;
        eval {
            open(STDOUT, '>', $o{log} // '/dev/null') or die "$o{log}: $!\n";
            open(STDERR, '>&', \*STDOUT) or die "stderr: $!\n";
            $o{setup}->() if $o{setup};
            no warnings 'exec';    # (fatal, in this file)
            exec { $o{cmd}[0] } @{ $o{cmd} };
            die "exec $o{cmd}[0]: $!\n";
        };
        print $w $@;
        close $w;
        _exit(127);
    }
    close $w;
    my $err = do { local $/; <$r> } // '';
    close $r;
    if ($err ne '') {
        local $?;
        waitpid $pid, 0;
        die $err;
    }
    return $pid;
}

# The lines that load the named modules into an httpd, as that server has
# them (tools/httpd-load in the checkout $top, asking the httpd $apxs
# names: nothing for one compiled in, a LoadModule for a shared one;
# "?name" for one it may lack; with "--have", the exit status says whether
# it has the one named).  Dies naming a module the server has in neither
# form.  Every configuration the tests and the tools write loads its
# modules through this, never from an assumed layout.
sub httpd_load {
    my ($apxs, $top, @args) = @_;
    local $ENV{APXS} = $apxs;
    my $out = `'$top/tools/httpd-load' @args`;
    return ($out, $? == 0);
}

# The same for the suite's httpd (Apache::Test's apxs and tree).
sub _suite { require Apache::Test; my $v = Apache::Test::config()->{vars};
             return ($v->{apxs}, $v->{top_dir}) }
sub load_lines {
    my ($out, $ok) = httpd_load(_suite(), @_);
    die "tools/httpd-load @_ failed\n" unless $ok;
    return $out;
}
sub have_module { return (httpd_load(_suite(), '--have', $_[0]))[1] }

sub _dir {
    my ($name) = @_;
    my $dir = tempdir("wx_valid-$name.XXXXXX", TMPDIR => 1, CLEANUP => 1);
    chmod 0777, $dir;
    return $dir;
}

# An Apache on a free port, its configuration $o{conf} (@DIR@ in it: the
# server's own folder) after a base that
# loads mod_wx_valid, the socache providers, mod_proxy and mod_status
# (/server-status) and logs "%m %U %>s %{wx-valid}n" to note_log.
sub apache {
    my ($class, %o) = @_;
    require Apache::Test;
    my $cfg = Apache::Test::config();
    my $httpd = $cfg->{vars}{httpd};
    my $module = "$cfg->{vars}{top_dir}/.libs/mod_wx_valid.so";
    my $dir = _dir($o{name});
    my $port = free_port();
    (my $conf = $o{conf}) =~ s/\@DIR\@/$dir/g;
    my $user = '';
    if ($> == 0) {
        my $group = getgrgid((getpwnam('nobody'))[3]);
        $user = "User nobody\nGroup $group";
    }
    my $mods = load_lines(qw(mpm_event unixd log_config authz_core authz_host
                             mime status socache_shmcb socache_memcache
                             socache_redis proxy proxy_http));
    open my $fh, '>', "$dir/httpd.conf" or die $!;
    print $fh <<"EOF";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LogLevel warn wx_valid:info
$mods
$user
LoadModule wx_valid_module "$module"
DocumentRoot "$dir"
LogFormat "%m %U %>s %{wx-valid}n" wxnote
CustomLog "$dir/note_log" wxnote
<Location /server-status>
    SetHandler server-status
</Location>
$conf
EOF
    close $fh;
    my $self = bless { dir => $dir, port => $port, httpd => $httpd,
                       name => "apache $o{name}", parent => $$ }, $class;
    if ($ENV{WX_VALGRIND}) {
        # make memcheck: one process (-X) under valgrind's memcheck, its
        # log kept where tools/apache-test reads every one of them.
        my $vdir = $ENV{WX_VALGRIND_DIR} // $dir;
        my $pid = spawn(log => "$dir/valgrind.out", cmd => [
            'valgrind', '--tool=memcheck', '--leak-check=full',
            '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
            '--num-callers=40', "--log-file=$vdir/$o{name}.valgrind.log",
            $httpd, '-X', '-f', "$dir/httpd.conf"]);
        $self->{pid} = wait_ready(what => $self->{name}, pid => $pid,
                                  port => $port, pidfile => "$dir/httpd.pid",
                                  log => "$dir/error_log", secs => 120);
        $self->{valgrind} = 1;
        return $self;
    }
    my $out = `'$httpd' -f '$dir/httpd.conf' -k start 2>&1`;
    die "apache $o{name} did not start: $out" if $?;
    # -k start returns before the server it detached writes its pid file.
    $self->{pid} = wait_ready(what => $self->{name}, port => $port,
                              pidfile => "$dir/httpd.pid",
                              log => "$dir/error_log");
    return $self;
}

# httpd -k graceful, and back when the new generation says it is serving
# (one more "resuming normal operations" in its error log), 20 s at most.
sub graceful {
    my ($self) = @_;
    my $count = sub { scalar(() = $self->error_log =~ /resuming normal operations/g) };
    my $before = $count->();
    my $out = `'$self->{httpd}' -f '$self->{dir}/httpd.conf' -k graceful 2>&1`;
    die "$self->{name}: graceful failed: $out" if $?;
    wait_for(20, "$self->{name}: graceful restart", sub { $count->() > $before });
}

sub base { "http://127.0.0.1:$_[0]{port}" }
sub dir  { $_[0]{dir} }

# The error log so far.
sub error_log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/error_log" or return '';
    local $/;
    return <$fh> // '';
}

# Stopped when its master and all its children are gone (their last
# access log lines written).
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    stop_pid(what => $self->{name}, pid => $pid,
             secs => $self->{valgrind} ? 120 : 20);
}

# memcached or redis-server in the foreground, as a child of the test.
sub _daemon {
    my ($class, $name, @cmd) = @_;
    my $port = free_port();
    my $dir = _dir($name);
    s/\@PORT\@/$port/g for @cmd;
    s/\@DIR\@/$dir/g for @cmd;
    my $self = bless { port => $port, cmd => \@cmd, dir => $dir,
                       name => $name, parent => $$ }, $class;
    $self->start;
    return $self;
}

sub memcached {
    my ($class) = @_;
    my @user = $> == 0 ? ('-u', 'nobody') : ();
    return $class->_daemon('memcached', 'memcached', '-l', '127.0.0.1',
                           '-p', '@PORT@', '-U', '0', @user);
}

# With password => ..., Redis asks for it (requirepass), as managed Redis
# does.
sub redis {
    my ($class, %o) = @_;
    return $class->_daemon($o{password} ? 'redis-auth' : 'redis',
                           'redis-server', '--port', '@PORT@',
                           '--bind', '127.0.0.1', '--save', '',
                           '--appendonly', 'no', '--dir', '@DIR@',
                           $o{password} ? ('--requirepass', $o{password}) : ());
}

sub port { $_[0]{port} }

# (Again after kill_daemon: the one before is gone by then.)
sub start {
    my ($self) = @_;
    die "$self->{name} (pid $self->{pid}) runs already\n" if $self->{pid};
    my $log = "$self->{dir}/output.log";
    $self->{pid} = spawn(cmd => $self->{cmd}, log => $log);
    wait_ready(what => $self->{name}, pid => $self->{pid},
               port => $self->{port}, log => $log);
}

sub kill_daemon {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    stop_pid(what => $self->{name}, pid => $pid);
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    # Not in a forked child (tools/bench forks to exec valgrind).
    return if $self->{parent} != $$;
    if ($self->{httpd}) { $self->stop } else { $self->kill_daemon }
}

1;
