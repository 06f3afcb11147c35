fn main() {
    println!("lvs-converge skeleton");
}
