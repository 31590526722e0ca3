@actor:receiver
Feature: Checking a token before anything is downloaded
  A token is a set of typed items. The receiving hospital checks every item before it asks the
  repository for anything, so that a damaged, mistyped or foreign token costs nothing and
  reveals nothing.

  @HIT-ITEM-01 @option:core @required
  Scenario Outline: A token that <fault> is refused
    Given the sending hospital has sent a referral study of 3 CT images for patient "山田 太郎"
    And the token the receiving hospital is handed <fault>
    When the patient hands the token to the receiving hospital as "the electronic token"
    Then the receiving hospital refuses the transfer
    And the repository was not asked for the document

    Examples: broken token items
      | fault                                     |
      | has no document ID                        |
      | has no secret                             |
      | has a secret shorter than 128 bits        |
      | names no community                        |
      | has an expiry that is not a date and time |
      | names an envelope scheme nobody defined   |
      | names a token version nobody defined      |
      | was issued a day ahead                    |

