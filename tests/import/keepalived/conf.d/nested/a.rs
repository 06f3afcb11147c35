real_server 198.51.100.22 80 {
    weight 2
}
