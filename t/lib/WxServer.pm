package WxServer;
# More servers for the tests that need more than Apache::Test's one: a
# whole Apache with mod_wx_valid (the same httpd and module as the suite),
# memcached and Redis, each on a free loopback port in a folder of its own
# under /tmp (world-readable: as root, Apache runs as nobody).  Started and
# stopped by the tests themselves.
use strict;
use warnings FATAL => 'all';

use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

use Apache::Test ();

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "free port: $!";
    return $s->sockport;
}

sub wait_port {
    my ($port, $up) = @_;
    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port");
        close $s if $s;
        return 1 if !!$s == !!$up;
        sleep 0.05;
    }
    die "127.0.0.1:$port did not go " . ($up ? 'up' : 'down');
}

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
    my $cfg = Apache::Test::config();
    my $httpd = $cfg->{vars}{httpd};
    my $libexec = $cfg->apxs('LIBEXECDIR');
    my $module = "$cfg->{vars}{top_dir}/.libs/mod_wx_valid.so";
    my $dir = _dir($o{name});
    my $port = free_port();
    (my $conf = $o{conf}) =~ s/\@DIR\@/$dir/g;
    my $user = '';
    if ($> == 0) {
        my $group = getgrgid((getpwnam('nobody'))[3]);
        $user = "User nobody\nGroup $group";
    }
    my $mods = join '', map { "LoadModule ${_}_module $libexec/mod_$_.so\n" }
        qw(authz_core authz_host mime status socache_shmcb socache_memcache
           socache_redis proxy proxy_http);
    open my $fh, '>', "$dir/httpd.conf" or die $!;
    print $fh <<"EOF";
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LogLevel warn wx_valid:info
$user
LoadModule mpm_event_module $libexec/mod_mpm_event.so
$mods
LoadModule wx_valid_module "$module"
TypesConfig /etc/mime.types
DocumentRoot "$dir"
LogFormat "%m %U %>s %{wx-valid}n" wxnote
CustomLog "$dir/note_log" wxnote
<Location /server-status>
    SetHandler server-status
</Location>
$conf
EOF
    close $fh;
    my $self = bless { dir => $dir, port => $port, httpd => $httpd }, $class;
    my $out = `'$httpd' -f '$dir/httpd.conf' -k start 2>&1`;
    die "apache $o{name} did not start: $out" if $?;
    wait_port($port, 1);
    $self->{up} = 1;
    return $self;
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

sub stop {
    my ($self) = @_;
    return unless $self->{up};
    system("'$self->{httpd}' -f '$self->{dir}/httpd.conf' -k stop >/dev/null 2>&1");
    wait_port($self->{port}, 0);
    # the pid file goes when the last child has gone
    for (1 .. 100) { last unless -e "$self->{dir}/httpd.pid"; sleep 0.05 }
    $self->{up} = 0;
}

# memcached or redis-server in the foreground, as a child of the test.
sub _daemon {
    my ($class, $name, @cmd) = @_;
    my $port = free_port();
    my $dir = _dir($name);
    s/\@PORT\@/$port/g for @cmd;
    s/\@DIR\@/$dir/g for @cmd;
    my $self = bless { port => $port, cmd => \@cmd, dir => $dir,
                       parent => $$ }, $class;
    $self->start;
    return $self;
}

sub memcached {
    my ($class) = @_;
    my @user = $> == 0 ? ('-u', 'nobody') : ();
    return $class->_daemon('memcached', 'memcached', '-l', '127.0.0.1',
                           '-p', '@PORT@', '-U', '0', @user);
}

sub redis {
    my ($class) = @_;
    return $class->_daemon('redis', 'redis-server', '--port', '@PORT@',
                           '--bind', '127.0.0.1', '--save', '',
                           '--appendonly', 'no', '--dir', '@DIR@');
}

sub port { $_[0]{port} }

sub start {
    my ($self) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec @{ $self->{cmd} } or die "exec $self->{cmd}[0]: $!";
    }
    $self->{pid} = $pid;
    wait_port($self->{port}, 1);
}

sub kill_daemon {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
    wait_port($self->{port}, 0);
}

sub DESTROY {
    my ($self) = @_;
    local $?;
    # Not in a forked child (tools/bench forks to exec valgrind).
    return if $self->{parent} && $self->{parent} != $$;
    if ($self->{httpd}) { $self->stop } else { $self->kill_daemon }
}

1;
