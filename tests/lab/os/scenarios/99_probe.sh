export LC_ALL=C.UTF-8 MANPAGER=cat
boot_1() {
    step "probe"
    run_cmd ls -la /lab /lab/deb /lab/ansible_collections || true
    run_cmd dpkg -l ansible-core man-db bash-completion python3 | tail -4
    local t0=$(uptime_s)
    run_cmd ansible --version
    echo "ansible --version took $(elapsed_since $t0)s"
    t0=$(uptime_s)
    printf -- '- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n    - command: "true"\n      register: r\n      changed_when: false\n' >/tmp/p.yml
    run_cmd ansible-playbook -i localhost, /tmp/p.yml
    echo "playbook took $(elapsed_since $t0)s"
    t0=$(uptime_s)
    ANSIBLE_STDOUT_CALLBACK=json ansible-playbook -i localhost, /tmp/p.yml | jq -c '.plays[0].tasks[0].hosts.localhost | {changed, rc}'
    echo "json playbook took $(elapsed_since $t0)s"
    t0=$(uptime_s)
    run_cmd man ls | head -5
    echo "man took $(elapsed_since $t0)s"
    run_cmd bash -c 'source /usr/share/bash-completion/completions/dpkg; complete -p dpkg'
    run_cmd systemctl list-timers --no-pager
    run_cmd systemd-analyze blame --no-pager | head -15
}
